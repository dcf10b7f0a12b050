"""``chatpay bench flows|ingest``: argument parsing and the entry points (API.md §12)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from chatpay.bench.agents import SetupError
from chatpay.bench.flows import FlowsConfig, run_flows
from chatpay.bench.ingest import IngestConfig, run_ingest
from chatpay.bench.report import format_flows, format_ingest

#: Seconds any single wait (an HTTP answer, a sink event, an agent event) may take before a flow fails.
DEFAULT_TIMEOUT = 30.0
#: Bench agents (one card key and one event stream each) when ``--agents`` is not given.
DEFAULT_AGENTS = 4
#: Seconds spent measuring the broker's raw ceiling in ``bench ingest``.
DEFAULT_CEILING_SECONDS = 3.0
#: Exit status when the bench ran but counted errors.
EXIT_ERRORS = 1
#: Exit status when the bench could not start (settings, setup).
EXIT_SETUP = 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bench`` with its ``flows`` and ``ingest`` commands on an argparse subparsers object."""
    bench = subparsers.add_parser("bench", help="benchmark a running deployment (API.md §12)")
    bench.set_defaults(func=run)
    commands = bench.add_subparsers(dest="bench_command", required=True, metavar="{flows,ingest}")

    flows = commands.add_parser(
        "flows",
        help="play complete payment flows concurrently",
        description="Play complete flows. Reads CHATPAY_AGENT_JWT_SECRET and CHATPAY_CHAT_OUTBOUND_SECRET; "
        "the deployment's CHATPAY_CHAT_WEBHOOK_URL must be http://127.0.0.1:SINK_PORT/.",
    )
    flows.add_argument("--url", required=True, help="base URL of the deployment, e.g. http://127.0.0.1:8000")
    flows.add_argument("--sink-port", type=_port, required=True, help="port of the bench's chat sink")
    flows.add_argument("--flows", type=_positive_int, default=100, help="flows to play (default 100)")
    flows.add_argument("--concurrency", type=_positive_int, default=10, help="flows in flight at most")
    flows.add_argument("--rate", type=_positive_float, help="open loop: flows started per second")
    flows.add_argument("--agents", type=_positive_int, default=DEFAULT_AGENTS, help="bench agents")
    flows.add_argument("--timeout", type=_positive_float, default=DEFAULT_TIMEOUT, help="seconds per wait")
    flows.add_argument("--json", action="store_true", help="print one JSON object")

    ingest = commands.add_parser(
        "ingest",
        help="measure the chat events endpoint beside the broker's raw ceiling",
        description="Reads CHATPAY_CHAT_INBOUND_SECRET and CHATPAY_BROKER_URL.",
    )
    ingest.add_argument("--url", required=True, help="base URL of the deployment")
    ingest.add_argument("--seconds", type=_positive_float, default=5.0, help="seconds of load (default 5)")
    ingest.add_argument("--concurrency", type=_positive_int, default=32, help="concurrent senders")
    ingest.add_argument(
        "--ceiling-seconds",
        type=_positive_float,
        default=DEFAULT_CEILING_SECONDS,
        help="seconds measuring the bare aio-pika ceiling",
    )
    ingest.add_argument(
        "--timeout", type=_positive_float, default=DEFAULT_TIMEOUT, help="seconds per request"
    )
    ingest.add_argument("--json", action="store_true", help="print one JSON object")
    return bench


def _secret(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SetupError(f"{name} is not set")
    return value


def _loopback(url: str) -> str:
    """The URL without a trailing slash; :class:`SetupError` unless it is on 127.0.0.1 or localhost."""
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if host not in {"127.0.0.1", "localhost", "[::1]"}:
        raise SetupError(f"the bench only drives a local deployment, not {url}")
    return url.rstrip("/")


async def _run(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    if args.bench_command == "flows":
        fcfg = FlowsConfig(
            url=_loopback(args.url),
            sink_port=args.sink_port,
            flows=args.flows,
            concurrency=args.concurrency,
            rate=args.rate,
            agents=args.agents,
            timeout=args.timeout,
            agent_jwt_secret=_secret("CHATPAY_AGENT_JWT_SECRET"),
            outbound_secret=_secret("CHATPAY_CHAT_OUTBOUND_SECRET"),
        )
        result = await run_flows(fcfg)
        return result, format_flows(result)
    icfg = IngestConfig(
        url=_loopback(args.url),
        seconds=args.seconds,
        concurrency=args.concurrency,
        inbound_secret=_secret("CHATPAY_CHAT_INBOUND_SECRET"),
        broker_url=os.environ.get("CHATPAY_BROKER_URL") or None,
        ceiling_seconds=args.ceiling_seconds,
        timeout=args.timeout,
    )
    result = await run_ingest(icfg)
    return result, format_ingest(result)


def run(args: argparse.Namespace) -> int:
    """Run ``bench flows`` or ``bench ingest``: 0, 1 when errors were counted, 2 when it could not start."""
    try:
        result, table = asyncio.run(_run(args))
    except (SetupError, OSError) as exc:
        print(f"chatpay bench: {exc}", file=sys.stderr)
        return EXIT_SETUP
    print(json.dumps(result) if args.json else table, flush=True)
    return EXIT_ERRORS if result["errors"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m chatpay.bench flows|ingest …`` (the same commands as ``chatpay bench``)."""
    parser = argparse.ArgumentParser(prog="chatpay")
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser(commands)
    return run(parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)]))
