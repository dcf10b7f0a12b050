"""The ``chatpay`` command line (API.md §11)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from chatpay import config
from chatpay.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chatpay", description="Card payments collected over chat.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="gateway + every actor + demo pages in one process")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--data-dir", default=os.environ.get("CHATPAY_DATA_DIR", config.DEFAULT_DATA_DIR))
    up.add_argument("--threads", type=int, default=8)

    gw = sub.add_parser("gateway", help="the HTTP gateway alone (uvicorn)")
    gw.add_argument("--host", default="127.0.0.1")
    gw.add_argument("--port", type=int, default=8000)
    gw.add_argument("--workers", type=int, default=1)

    wk = sub.add_parser("worker", help="Dramatiq workers for the named queues")
    wk.add_argument("--queues", default="", help="comma-separated: lifecycle,delivery,expiry,vault,notify")
    wk.add_argument("--processes", type=int, default=1)
    wk.add_argument("--threads", type=int, default=8)

    sub.add_parser("migrate", help="create or upgrade the database schema")

    keys = sub.add_parser("keys", help="key management").add_subparsers(dest="keys_command", required=True)
    vault = keys.add_parser("vault", help="write DIR/vault.key and DIR/vault.pub")
    vault.add_argument("--out", required=True)

    token = sub.add_parser("token", help="tokens").add_subparsers(dest="token_command", required=True)
    agent = token.add_parser("agent", help="print an agent JWT")
    agent.add_argument("agent_id")
    agent.add_argument("--ttl", type=int, default=12 * 3600, help="seconds until it expires")

    from chatpay.bench.cli import add_parser as add_bench

    add_bench(sub)

    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"chatpay: {exc}", file=sys.stderr)
        return 2


def _up(args: argparse.Namespace) -> int:
    import uvicorn

    from chatpay.broker import make_broker
    from chatpay.node import configure_logging, gateway_app, start_workers
    from chatpay.store import open_store

    configure_logging()
    env = dict(os.environ)
    env.setdefault("CHATPAY_PUBLIC_URL", f"http://{args.host}:{args.port}")
    env.setdefault("CHATPAY_CHAT_WEBHOOK_URL", env["CHATPAY_PUBLIC_URL"].rstrip("/") + "/demo/chat/webhook")
    env = config.embedded_environment(Path(args.data_dir), env)
    settings = config.load(env)
    store = open_store(settings.database_url)
    store.migrate()
    broker = make_broker(settings)
    hub = None
    if settings.embedded:
        from chatpay.agent_events import LocalEventHub

        hub = LocalEventHub()
        print(
            f"chatpay: no CHATPAY_BROKER_URL: in-process broker and SQLite ({settings.database_url}), "
            "single node. In-flight messages live in this process.",
            file=sys.stderr,
        )
    workers = start_workers(settings, broker, store, threads=args.threads, events=hub)
    app = gateway_app(settings, store, broker=broker if hub else None, hub=hub, demo=True)
    print(f"chatpay: agent console {settings.public_url}/console", file=sys.stderr)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    finally:
        workers.stop()
        store.close()
    return 0


def _gateway(args: argparse.Namespace) -> int:
    import uvicorn

    config.load()  # fail fast on missing settings, before forking workers
    uvicorn.run(
        "chatpay.node:asgi_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    from chatpay import messaging

    queues = [q for q in args.queues.split(",") if q] or list(messaging.ALL_QUEUES)
    if args.processes > 1:
        return _supervise(args)
    from chatpay.broker import make_broker
    from chatpay.node import configure_logging, start_workers
    from chatpay.store import open_store

    configure_logging()
    settings = config.load()
    if settings.embedded:
        raise ConfigError("chatpay worker needs CHATPAY_BROKER_URL (or run `chatpay up`)")
    store = open_store(settings.database_url, pool_size=args.threads + 2)
    store.migrate()
    broker = make_broker(settings)
    workers = start_workers(settings, broker, store, queues=queues, threads=args.threads)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    workers.stop()
    broker.close()
    store.close()
    return 0


def _supervise(args: argparse.Namespace) -> int:
    """``--processes N``: N single-process workers, restarted if one dies."""
    cmd = [
        sys.executable,
        "-m",
        "chatpay.cli",
        "worker",
        "--queues",
        args.queues,
        "--threads",
        str(args.threads),
    ]
    children = [subprocess.Popen(cmd) for _ in range(args.processes)]  # noqa: S603
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping.is_set():
        for i, child in enumerate(children):
            if child.poll() is not None and not stopping.is_set():
                children[i] = subprocess.Popen(cmd)  # noqa: S603
        time.sleep(0.5)
    for child in children:
        child.wait(timeout=30)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from chatpay.store import open_store

    url = os.environ.get("CHATPAY_DATABASE_URL") or "sqlite:///./chatpay.db"
    store = open_store(url)
    store.migrate()
    store.close()
    print("chatpay: schema is up to date")
    return 0


def _keys(args: argparse.Namespace) -> int:
    from chatpay import sealing

    try:
        private, public = sealing.generate_vault_keys(Path(args.out))
    except FileExistsError as exc:
        raise ConfigError(str(exc)) from None
    print(f"vault private key: {private} (mode 0600; only the vault worker needs it)")
    print(f"vault public key:  {public} (CHATPAY_VAULT_PUBLIC_KEY for the gateway)")
    return 0


def _token(args: argparse.Namespace) -> int:
    import jwt

    secret = os.environ.get("CHATPAY_AGENT_JWT_SECRET")
    if not secret:
        raise ConfigError("CHATPAY_AGENT_JWT_SECRET is not set")
    now = int(time.time())
    print(jwt.encode({"sub": args.agent_id, "iat": now, "exp": now + args.ttl}, secret, algorithm="HS256"))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from chatpay.bench.cli import run

    return run(args)


_COMMANDS = {
    "up": _up,
    "gateway": _gateway,
    "worker": _worker,
    "migrate": _migrate,
    "keys": _keys,
    "token": _token,
    "bench": _bench,
}

if __name__ == "__main__":
    sys.exit(main())
