#!/usr/bin/env python3
"""Run ``chatpay bench`` against a fresh local deployment and report CPU per process.

Starts ``chatpay gateway`` (``--gateway-workers``) and ``chatpay worker`` (``--threads``) on a fresh
RabbitMQ virtual host with SQLite or a fresh PostgreSQL database, the chat webhook pointing at the
bench's own sink, then runs the bench with the arguments after ``--`` and prints its JSON with the
process layout and the CPU each process (and RabbitMQ) spent per flow or per accepted event.

    python scripts/bench_local.py --database sqlite --threads 16 -- flows --flows 3600 --concurrency 32
    python scripts/bench_local.py -- ingest --seconds 20 --concurrency 64
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import services
from tests.support.deployment import Deployment, free_port

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rabbitmq_pid() -> int | None:
    out = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def run_bench(
    bench_args: list[str],
    *,
    database: str = "sqlite",
    threads: int = 16,
    gateway_workers: int = 1,
    no_worker: bool = False,
) -> dict[str, Any]:
    """Start a fresh deployment, run ``chatpay bench BENCH_ARGS --json`` against it; its result."""
    with services.rabbitmq() as (amqp, container), tempfile.TemporaryDirectory() as tmp:
        vhost = services.fresh_vhost(amqp, container)
        database_url, pg_server = f"sqlite:///{tmp}/chatpay.db", None
        if database == "postgresql":
            pg_server = services.postgres().__enter__()
            database_url = services.fresh_postgres_database(pg_server)
        sink_port = free_port()
        d = Deployment(
            Path(tmp),
            broker_url=vhost,
            database_url=database_url,
            webhook_url=f"http://127.0.0.1:{sink_port}/",
            worker_threads=threads,
            env={
                "CHATPAY_DELIVERY_BACKOFF": "1",
                "CHATPAY_DELIVERY_DEADLINE": "120",
                "CHATPAY_SWEEP_INTERVAL": "0.5",
            },
        )
        try:
            d.start()
            if gateway_workers > 1:
                assert d.gateway is not None
                d.gateway.terminate()
                d.gateway.wait(10)
                d.gateway = d._spawn(
                    "gateway", ["gateway", "--port", str(d.port), "--workers", str(gateway_workers)]
                )
                d.wait_ready()
            if no_worker:
                d.workers[0].terminate()
                d.workers[0].wait(15)
            procs = {"gateway": d.gateway.pid if d.gateway else 0}
            if not no_worker:
                procs["worker"] = d.workers[0].pid
            rabbit = rabbitmq_pid()
            if rabbit:
                procs["rabbitmq"] = rabbit
            children = subprocess.run(
                ["pgrep", "-P", str(procs["gateway"])], capture_output=True, text=True
            ).stdout.split()
            before = {k: cpu_seconds(p) for k, p in procs.items()}
            before_children = sum(cpu_seconds(int(p)) for p in children)
            cmd = [sys.executable, "-m", "chatpay.cli", "bench", *bench_args, "--url", d.url, "--json"]
            if bench_args[0] == "flows":
                cmd += ["--sink-port", str(sink_port)]
            out = subprocess.run(cmd, env=d.env, capture_output=True, text=True).stdout
            spent = {k: cpu_seconds(p) - before[k] for k, p in procs.items()}
            spent["gateway"] += sum(cpu_seconds(int(p)) for p in children) - before_children
        finally:
            d.stop()
            services.delete_vhost(vhost, container)
            if pg_server is not None:
                services.drop_postgres_database(pg_server, database_url)
    result = json.loads(out.strip().splitlines()[-1])
    units = result.get("flows") or result.get("accepted") or 1
    result["layout"] = {
        "database": database,
        "gateway_workers": gateway_workers,
        "worker_processes": 0 if no_worker else 1,
        "worker_threads": threads,
    }
    result["cpu_ms_per_unit"] = {k: round(v * 1000 / units, 2) for k, v in spent.items()}
    return result


def main() -> int:
    argv = sys.argv[1:]
    bench_args = argv[argv.index("--") + 1 :] if "--" in argv else ["flows"]
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--gateway-workers", type=int, default=1)
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="stop the actors after start-up (ingest alone: events stay queued)",
    )
    args = parser.parse_args(own)
    result = run_bench(
        bench_args,
        database=args.database,
        threads=args.threads,
        gateway_workers=args.gateway_workers,
        no_worker=args.no_worker,
    )
    print(json.dumps(result))
    return 0 if result.get("errors", 1) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
