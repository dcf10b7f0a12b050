"""What every actor handler gets: plain dependencies, no globals."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import msgspec

from chatpay.agent_events import EventSink
from chatpay.config import Settings
from chatpay.store import Store

#: ``send(message, delay_ms)``: enqueue a follow-up message for its actor.
Send = Callable[[msgspec.Struct, int | None], None]


@dataclasses.dataclass(kw_only=True)
class Deps:
    settings: Settings
    store: Store
    send: Send
    events: EventSink | None = None

    def emit(self, *messages: msgspec.Struct) -> None:
        for message in messages:
            self.send(message, None)
