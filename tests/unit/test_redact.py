import logging

from chatpay.redact import RedactingFilter, redact


def test_luhn_valid_runs_are_masked_in_any_grouping():
    for pan in ("4111111111111111", "4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005"):
        assert redact(f"card {pan} here") == "card [PAN REDACTED] here"


def test_other_numbers_stay():
    for text in ("order 4111111111111112", "ts 1764190800000", "id 12345", "phone 555 0100"):
        assert redact(text) == text


def test_filter_rewrites_message_and_traceback():
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "got %s", ("4242424242424242",), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "got [PAN REDACTED]"
    try:
        raise ValueError("4242 4242 4242 4242")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    RedactingFilter().filter(record)
    assert "4242 4242" not in (record.exc_text or "") and "[PAN REDACTED]" in (record.exc_text or "")
