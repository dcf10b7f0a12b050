"""``chatpay bench ingest`` and ``chatpay bench flows`` (API.md §12) against a real deployment:
gateway and worker processes on RabbitMQ (a fresh vhost) and SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.deployment import Deployment, free_port

#: Seconds a bench command may take before the test gives up on it.
BENCH_TIMEOUT = 120
#: Keys of a hop summary (API.md §12).
HOP_KEYS = {"p50_ms", "p95_ms", "p99_ms", "max_ms"}


@pytest.fixture
def deployment(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    """A deployment whose chat webhook points at the bench's own sink port (``deployment.sink_port``)."""
    sink_port = free_port()
    d = Deployment(
        tmp_path / "d",
        broker_url=broker_url,
        database_url=f"sqlite:///{tmp_path / 'chatpay.db'}",
        webhook_url=f"http://127.0.0.1:{sink_port}/",
    )
    d.sink = sink_port
    try:
        yield d.start()
    finally:
        d.stop()


def bench(d: Deployment, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run ``chatpay bench … --json``; exit status, the last JSON line and the whole output."""
    proc = subprocess.run(
        [sys.executable, "-m", "chatpay.cli", "bench", *args, "--url", d.url, "--json"],
        env=d.env,
        capture_output=True,
        text=True,
        timeout=BENCH_TIMEOUT,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no output; stderr:\n{proc.stderr}\n{d.logs()}"
    return proc.returncode, json.loads(lines[-1]), proc.stdout + proc.stderr


def test_bench_ingest_reports_throughput_beside_the_broker_ceiling(deployment: Deployment) -> None:
    rc, result, output = bench(
        deployment, "ingest", "--seconds", "2", "--concurrency", "4", "--ceiling-seconds", "1"
    )
    assert result["kind"] == "ingest"
    assert result["errors"] == 0, output
    assert rc == 0
    assert result["accepted"] > 0 and result["accepted_per_s"] > 0
    assert result["p50_ms"] <= result["p99_ms"]
    assert result["ceiling_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["accepted_per_s"] / result["ceiling_per_s"], rel=0.01)


def test_bench_flows_plays_complete_flows(deployment: Deployment) -> None:
    rc, result, output = bench(
        deployment,
        "flows",
        "--sink-port",
        str(deployment.sink),
        "--flows",
        "20",
        "--concurrency",
        "4",
        "--agents",
        "2",
        "--timeout",
        "20",
    )
    assert result["kind"] == "flows"
    assert set(result["hops"]) == {
        "create_to_waiting",
        "submit_to_agent_event",
        "complete_to_accepted",
        "flow",
    }
    # The bench's customer submits as soon as the chat shows the link (as fast as pay.js allows: it shows
    # the form while the request is still `sending`); "submit: HTTP 409 conflict (sending)" here means the
    # server refuses a customer who is quicker than the delivery report.
    assert result["errors"] == 0, f"{result['error_reasons']}\n{output}"
    assert rc == 0
    assert result["flows"] == 20 and result["flows_per_s"] > 0
    for hop in result["hops"].values():
        assert set(hop) == HOP_KEYS
        assert 0 < hop["p50_ms"] <= hop["p95_ms"] <= hop["p99_ms"] <= hop["max_ms"]
    assert result["hops"]["flow"]["max_ms"] >= result["hops"]["create_to_waiting"]["max_ms"]


def test_bench_flows_open_loop_counts_errors_when_the_sink_is_not_the_webhook(deployment: Deployment) -> None:
    """With the sink on a port the deployment does not deliver to, every flow times out, and says so."""
    rc, result, _ = bench(
        deployment,
        "flows",
        "--sink-port",
        str(free_port()),
        "--flows",
        "3",
        "--concurrency",
        "3",
        "--rate",
        "20",
        "--agents",
        "1",
        "--timeout",
        "1",
    )
    assert rc == 1
    assert result["flows"] == 0
    assert result["error_reasons"].get("timeout waiting for sent") == 3
    assert result["errors"] >= 3
    assert result["hops"]["flow"] == dict.fromkeys(HOP_KEYS)
