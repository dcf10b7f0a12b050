"""Benchmark harness (API.md §12): ``chatpay bench flows`` and ``chatpay bench ingest``.

Both drive a running deployment over HTTP on 127.0.0.1 and print one result (a table, or with ``--json``
one JSON object, last). Errors are counted by reason and always shown.
"""
