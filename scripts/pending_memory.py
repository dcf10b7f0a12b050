#!/usr/bin/env python3
"""Worker memory and sweep cost against the number of pending requests (1,000 → 100,000).

Starts a real deployment (``chatpay gateway`` + ``chatpay worker`` on a fresh RabbitMQ virtual host,
SQLite or a fresh PostgreSQL database), writes pending requests (an hour to live) straight through the
store, lets the sweeper run, and reads the worker's VmRSS and the time of one sweep query at each step.

    python scripts/pending_memory.py [--database sqlite|postgresql] [--steps 1000,10000,100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chatpay.clock import now_ms
from chatpay.store import Store, open_store, repo
from scripts.flow_latency import deployment
from tests.integration.test_expiry_scale import rss_kib

HOUR_MS = 3_600_000


def add_pending(store: Store, start: int, stop: int) -> None:
    now = now_ms()
    for chunk in range(start, stop, 5000):
        with store.write() as tx:
            for i in range(chunk, min(stop, chunk + 5000)):
                repo.insert_request(
                    tx,
                    {
                        "id": f"pr_pending{i:07d}",
                        "agent_id": "a-load",
                        "conversation_id": f"c-{i}",
                        "customer_id": f"cu-{i}",
                        "amount": 100,
                        "currency": "USD",
                        "reason": "pending",
                        "methods": "card",
                        "status": "waiting_for_customer",
                        "version": 2,
                        "created_at": now,
                        "updated_at": now,
                        "expires_at": now + HOUR_MS,
                        "token_hash": secrets.token_hex(32),
                    },
                )


def sweep_query_ms(store: Store) -> float:
    start = time.perf_counter()
    with store.read() as tx:
        repo.due_for_expiry(tx, now_ms(), 1000)
        repo.due_for_purge(tx, now_ms(), 1000)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--steps", default="1000,10000,100000")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    results = []
    with deployment(args.database) as d:
        store = open_store(d.env["CHATPAY_DATABASE_URL"])
        worker = d.workers[0].pid
        done = 0
        for target in steps:
            add_pending(store, done, target)
            done = target
            time.sleep(3)  # several sweeps at CHATPAY_SWEEP_INTERVAL
            results.append(
                {
                    "pending": target,
                    "worker_rss_mib": round(rss_kib(worker) / 1024, 1),
                    "sweep_query_ms": round(sweep_query_ms(store), 2),
                }
            )
        store.close()
    growth = results[-1]["worker_rss_mib"] - results[0]["worker_rss_mib"]
    summary = {"database": args.database, "steps": results, "rss_growth_mib": round(growth, 1)}
    if args.json:
        print(json.dumps(summary))
    else:
        for r in results:
            print(
                f"{r['pending']:>8} pending: worker RSS {r['worker_rss_mib']} MiB, "
                f"sweep queries {r['sweep_query_ms']} ms"
            )
        print(f"growth from {steps[0]} to {steps[-1]}: {growth:+.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
