"""Dramatiq-compatible messages encoded with msgspec, and which queue each message goes to.

The gateway publishes these bytes with aio-pika; the actors read them with Dramatiq. Both sides
build them here, so the wire format has one definition.
"""

from __future__ import annotations

import uuid
from typing import Any

import dramatiq
import msgspec

from chatpay.clock import now_ms
from schemas import messages as m

#: Queue (and actor) names, one per responsibility.
LIFECYCLE, DELIVERY, EXPIRY, VAULT, NOTIFY = "lifecycle", "delivery", "expiry", "vault", "notify"
ALL_QUEUES = (LIFECYCLE, DELIVERY, EXPIRY, VAULT, NOTIFY)
#: Prefix of every RabbitMQ queue chatpay declares.
QUEUE_PREFIX = "chatpay."

_ROUTES: dict[type, str] = {
    **{cls: LIFECYCLE for cls in m.LifecycleCommand.__args__},
    m.SealedSubmission: VAULT,
    m.DeliverChatEvent: DELIVERY,
    m.EndConversation: EXPIRY,
    m.RequestChanged: NOTIFY,
    m.FocusChanged: NOTIFY,
}

#: The typed union each actor decodes its message into.
COMMAND_TYPES: dict[str, Any] = {
    LIFECYCLE: m.LifecycleCommand,
    DELIVERY: m.DeliveryCommand,
    EXPIRY: m.ExpiryCommand,
    VAULT: m.VaultCommand,
    NOTIFY: m.NotifyCommand,
}


def queue_name(actor: str) -> str:
    return QUEUE_PREFIX + actor


def actor_of(message: msgspec.Struct) -> str:
    """The actor (short queue name) that owns ``message``."""
    return _ROUTES[type(message)]


class _Wire(msgspec.Struct):
    queue_name: str
    actor_name: str
    args: list[msgspec.Raw]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    message_id: str
    message_timestamp: int


class MsgspecEncoder(dramatiq.Encoder):
    """Dramatiq's envelope as msgspec JSON; actor arguments stay raw until the actor decodes them."""

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(_Wire)

    def encode(self, data: dict[str, Any]) -> bytes:
        return self._encoder.encode(data)

    def decode(self, data: bytes) -> dict[str, Any]:
        try:
            wire = self._decoder.decode(data)
        except msgspec.DecodeError:
            # Never echo the body: it is attacker-controlled and may be anything.
            raise ValueError(f"undecodable queue message ({len(data)} bytes)") from None
        return {f: getattr(wire, f) for f in wire.__struct_fields__}


def build(message: msgspec.Struct, *, message_id: str | None = None) -> dramatiq.Message[Any]:
    """The Dramatiq message that carries ``message`` to its actor."""
    actor = actor_of(message)
    return dramatiq.Message(
        queue_name=queue_name(actor),
        actor_name=actor,
        args=(message,),
        kwargs={},
        options={},
        message_id=message_id or str(uuid.uuid4()),
        message_timestamp=now_ms(),
    )


_wire_encoder = msgspec.json.Encoder()


def wire_bytes(message: msgspec.Struct, *, message_id: str | None = None) -> tuple[str, str, bytes]:
    """(RabbitMQ queue, message id, body) for publishing ``message`` without Dramatiq."""
    msg = build(message, message_id=message_id)
    return msg.queue_name, msg.message_id, _wire_encoder.encode(msg.asdict())
