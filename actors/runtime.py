"""Binding handlers to Dramatiq: one actor per queue, typed decoding, dead-lettering, workers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import dramatiq
import msgspec
from dramatiq.middleware import CurrentMessage

from actors import delivery, expiry, lifecycle, notify, vault
from actors.deps import Deps
from chatpay import messaging
from chatpay.errors import UndecodableMessage

log = logging.getLogger("chatpay.actors")

#: Each queue's handler: a plain function of (typed message, dependencies).
HANDLERS: dict[str, Callable[[Any, Deps], None]] = {
    messaging.LIFECYCLE: lifecycle.handle,
    messaging.DELIVERY: delivery.handle,
    messaging.EXPIRY: expiry.handle,
    messaging.VAULT: vault.handle,
    messaging.NOTIFY: notify.handle,
}

#: Retries of transient failures (database or broker hiccups): short and bounded, see DESIGN.md.
MAX_RETRIES, MIN_BACKOFF_MS, MAX_BACKOFF_MS = 20, 100, 5_000
#: Failures that retrying cannot fix: straight to the dead-letter queue.
FINAL_ERRORS = (UndecodableMessage, vault.VaultRejected)


def declare_actors(broker: dramatiq.Broker, deps: Deps, queues: Iterable[str] | None = None) -> None:
    """Declare the actors of ``queues`` (default: all) on ``broker``."""
    for name in queues or messaging.ALL_QUEUES:
        decorate = dramatiq.actor(
            broker=broker,
            actor_name=name,
            queue_name=messaging.queue_name(name),
            throws=FINAL_ERRORS,
            max_retries=MAX_RETRIES,
            min_backoff=MIN_BACKOFF_MS,
            max_backoff=MAX_BACKOFF_MS,
        )
        decorate(_entry(name, deps))


def _entry(name: str, deps: Deps) -> Callable[[Any], None]:
    decoder = msgspec.json.Decoder(messaging.COMMAND_TYPES[name])
    handler = HANDLERS[name]

    def run(raw: Any) -> None:
        try:
            data = bytes(raw) if isinstance(raw, msgspec.Raw) else msgspec.json.encode(raw)
            command = decoder.decode(data)
        except msgspec.DecodeError:
            current = CurrentMessage.get_current_message()
            message_id = current.message_id if current else "?"
            log.error("actor %s: message %s does not decode; dead-lettered", name, message_id)
            raise UndecodableMessage(f"message {message_id} for {name} does not decode") from None
        handler(command, deps)

    run.__name__ = name
    return run


def sender(broker: dramatiq.Broker) -> Callable[[msgspec.Struct, int | None], None]:
    """``send(message, delay_ms)`` for actors: enqueue on the broker (confirmed on RabbitMQ)."""

    def send(message: msgspec.Struct, delay_ms: int | None) -> None:
        broker.enqueue(messaging.build(message), delay=delay_ms)

    return send
