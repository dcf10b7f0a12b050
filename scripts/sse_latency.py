#!/usr/bin/env python3
"""Customer submit → the agent's SSE event: median and p99 over N flows (default 500).

Starts a real deployment (``chatpay gateway`` + ``chatpay worker`` on a fresh RabbitMQ virtual host,
SQLite or a fresh PostgreSQL database) and runs ``chatpay bench flows`` against it; its
``submit_to_agent_event`` hop is exactly this: from just before ``POST /v1/pay/{token}/submit`` to
the moment the agent's ``GET /v1/agents/me/events`` stream delivers the ``submitted`` notification.

Usage (RabbitMQ and PostgreSQL as in tests/support/services.py, or CHATPAY_TEST_* URLs)::

    python scripts/sse_latency.py [--flows 500] [--concurrency 1] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench_local import run_bench


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    result = run_bench(
        ["flows", "--flows", str(args.flows), "--concurrency", str(args.concurrency)], database=args.database
    )
    hop = result["hops"]["submit_to_agent_event"]
    print(
        f"submit -> agent SSE event over {result['flows']} flows ({result['errors']} errors, "
        f"concurrency {args.concurrency}, {args.database}): "
        f"median {hop['p50_ms']} ms, p99 {hop['p99_ms']} ms, max {hop['max_ms']} ms"
    )
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
