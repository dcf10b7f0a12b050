"""Assembling processes: workers (Dramatiq actors + the sweeper) and the gateway application."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence

import dramatiq
from dramatiq import Worker
from starlette.applications import Starlette

from actors.deps import Deps
from actors.expiry import Sweeper
from actors.runtime import declare_actors, sender
from chatpay import messaging
from chatpay.agent_events import AmqpEventSink, EventSink, LocalEventHub
from chatpay.config import Settings
from chatpay.store import Store

log = logging.getLogger("chatpay")

#: Log line layout for every chatpay process.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def configure_logging(level: str = "INFO") -> None:
    from chatpay.redact import RedactingFilter

    logging.basicConfig(level=level, format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    for noisy in ("pika", "aio_pika", "aiormq", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@dataclasses.dataclass
class Workers:
    """Running actors of one process."""

    worker: Worker
    sweeper: Sweeper | None
    deps: Deps

    def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()
        self.worker.stop(timeout=10_000)


def start_workers(
    settings: Settings,
    broker: dramatiq.Broker,
    store: Store,
    *,
    queues: Iterable[str] | None = None,
    threads: int = 8,
    events: EventSink | None = None,
) -> Workers:
    names = list(queues or messaging.ALL_QUEUES)
    unknown = set(names) - set(messaging.ALL_QUEUES)
    if unknown:
        raise ValueError(f"unknown queues: {', '.join(sorted(unknown))}")
    if events is None and messaging.NOTIFY in names:
        assert settings.broker_url, "the embedded mode passes its in-process hub"
        events = AmqpEventSink(settings.broker_url)
    deps = Deps(settings=settings, store=store, send=sender(broker), events=events)
    declare_actors(broker, deps, names)
    worker = Worker(
        broker, worker_threads=threads, queues={messaging.queue_name(n) for n in names}, worker_timeout=100
    )
    worker.start()
    sweeper = None
    if messaging.EXPIRY in names:
        sweeper = Sweeper(deps)
        sweeper.start()
    log.info("workers running for %s (%d threads)", ", ".join(names), threads)
    return Workers(worker, sweeper, deps)


def gateway_app(
    settings: Settings,
    store: Store,
    *,
    broker: dramatiq.Broker | None = None,
    hub: LocalEventHub | None = None,
    demo: bool = False,
) -> Starlette:
    """The gateway on RabbitMQ, or (``broker`` and ``hub`` given) on the in-process broker."""
    from chatpay.publisher import AmqpPublisher, InProcessPublisher, Publisher
    from gateway.app import build_gateway, create_app
    from gateway.events import amqp_bridge, local_bridge

    publisher: Publisher
    if broker is not None and hub is not None:
        publisher, bridge = InProcessPublisher(broker), local_bridge(hub, store)
    else:
        assert settings.broker_url
        publisher = AmqpPublisher(settings.broker_url, queue_type=settings.queue_type)
        bridge = amqp_bridge(settings.broker_url, store)
    gateway = build_gateway(settings, store, publisher, bridge)
    extra: Sequence = ()
    if demo:
        from gateway.demo import demo_routes

        extra = demo_routes(
            outbound_secret=settings.chat_outbound_secret, agent_jwt_secret=settings.agent_jwt_secret
        )
    return create_app(gateway, extra_routes=extra)


def asgi_app() -> Starlette:
    """``uvicorn --factory chatpay.node:asgi_app``: the gateway alone, configured from the environment."""
    from chatpay import config
    from chatpay.store import open_store

    configure_logging()
    settings = config.load()
    if settings.embedded:
        raise SystemExit("chatpay gateway needs CHATPAY_BROKER_URL (or run `chatpay up`)")
    return gateway_app(settings, open_store(settings.database_url))
