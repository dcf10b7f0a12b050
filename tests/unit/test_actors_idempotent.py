"""At-least-once delivery: every actor handler run twice on the same message changes nothing the second time.

Each handler runs against a real SQLite store with a recording ``send`` and agent-event sink. The second
run must leave every table as the first left it, and may only re-emit messages the first emitted (same
ids; same content wherever the content is a pure function of the change).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from actors import delivery, expiry, lifecycle, notify, vault
from actors.deps import Deps
from chatpay import ids, sealing
from chatpay.clock import now_ms
from chatpay.store import repo
from schemas import messages as m
from schemas.cards import Envelope
from schemas.chat import OutboundChatEvent
from tests.support.sink import ChatSink
from tests.support.units import SECRETS, create_command, give_key, request_status, sqlite_store, unit_settings

AGENT = "a-7"
CARD = {
    "method": "card",
    "number": "4111111111111111",
    "name": "Ada Lovelace",
    "exp_month": 12,
    "exp_year": 2031,
    "cvc": "737",
}
Handler = Callable[[Any, Deps], None]


class Recorder:
    """``send`` and the agent-event sink of :class:`Deps`, remembering what each run emitted."""

    def __init__(self) -> None:
        self.sent: list[msgspec.Struct] = []
        self.published: list[tuple[Any, ...]] = []

    def send(self, message: msgspec.Struct, delay_ms: int | None) -> None:
        self.sent.append(message)

    def publish(self, *args: Any) -> None:
        self.published.append(args)

    def take(self) -> tuple[list[msgspec.Struct], list[tuple[Any, ...]]]:
        out = (self.sent, self.published)
        self.sent, self.published = [], []
        return out


@pytest.fixture
def sink() -> Iterator[ChatSink]:
    chat = ChatSink(SECRETS["CHATPAY_CHAT_OUTBOUND_SECRET"])
    yield chat
    chat.close()


@pytest.fixture
def agent_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def deps(tmp_path: Path, sink: ChatSink, agent_key: ec.EllipticCurvePrivateKey) -> Iterator[Deps]:
    private, public = sealing.generate_vault_keys(tmp_path / "keys")
    settings = unit_settings(
        CHATPAY_CHAT_WEBHOOK_URL=sink.url,
        CHATPAY_VAULT_PUBLIC_KEY=str(public),
        CHATPAY_VAULT_PRIVATE_KEY=str(private),
        CHATPAY_DELIVERY_BACKOFF="0.05",
    )
    store = sqlite_store(tmp_path)
    recorder = Recorder()
    give_key(store, AGENT, "device-1", sealing.public_key_to_jwk(agent_key.public_key()))
    d = Deps(settings=settings, store=store, send=recorder.send, events=recorder)
    d.recorder = recorder  # type: ignore[attr-defined]
    yield d
    store.close()


def snapshot(d: Deps) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table."""
    with d.store.read() as tx:
        tables = [r["name"] for r in tx.all("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(tuple(r.values()) for r in tx.all(f'SELECT * FROM "{t}"')) for t in tables}


def message_id(message: msgspec.Struct) -> str:
    if isinstance(message, m.DeliverChatEvent):
        return message.event.id
    return str(getattr(message, "command_id", None) or message.event_id)  # type: ignore[attr-defined]


def twice(d: Deps, handler: Handler, message: Any, *, same_content: bool = True) -> list[msgspec.Struct]:
    """Run ``handler`` on ``message`` twice; check the second run; what the first emitted."""
    recorder: Recorder = d.recorder  # type: ignore[attr-defined]
    recorder.take()
    handler(message, d)
    first, first_published = recorder.take()
    before = snapshot(d)
    handler(message, d)
    second, second_published = recorder.take()
    assert snapshot(d) == before, f"the second {type(message).__name__} changed the database"
    by_id = {message_id(x): x for x in first}
    assert {message_id(x) for x in second} <= set(by_id), "the second run emitted new messages"
    if same_content:
        assert all(x == by_id[message_id(x)] for x in second)
    assert all(p in first_published for p in second_published)
    return first


def lifecycle_twice(d: Deps, message: m.LifecycleCommand) -> list[msgspec.Struct]:
    return twice(d, lifecycle.handle, message)


def create(
    d: Deps, request_id: str, *, conversation_id: str = "c-1", token: str | None = None
) -> m.CreateRequest:
    return create_command(request_id, agent_id=AGENT, conversation_id=conversation_id, token=token)


status = request_status


def delivered(request_id: str, version: int, ok: bool = True) -> m.DeliveryOutcome:
    return m.DeliveryOutcome(
        command_id=f"delivery:{request_id}:{version}",
        request_id=request_id,
        version=version,
        delivered=ok,
        attempts=1 if ok else 6,
        last_error=None if ok else "http_500",
    )


def submission(d: Deps, request_id: str) -> m.SealedSubmission:
    public = sealing.load_public_key(d.settings.vault_public_key or "")
    envelope = sealing.seal_envelope(msgspec.json.encode(CARD), public, request_id)
    return m.SealedSubmission(
        command_id=f"pay:{request_id}", request_id=request_id, method="card", envelope=envelope
    )


def sealed_card(d: Deps, request_id: str) -> m.CardSealed:
    """What the vault makes of the customer's submission (run twice: one id, fresh ciphertext)."""
    emitted = twice(d, vault.handle, submission(d, request_id), same_content=False)
    assert len(emitted) == 1 and isinstance(emitted[0], m.CardSealed)
    return emitted[0]


def test_lifecycle_from_create_to_completed(deps):
    emitted = lifecycle_twice(deps, create(deps, "pr_1"))
    assert [type(x) for x in emitted] == [m.RequestChanged, m.DeliverChatEvent]
    lifecycle_twice(deps, delivered("pr_1", 1))
    lifecycle_twice(deps, m.FormOpened(command_id="open-1", request_id="pr_1"))
    card = sealed_card(deps, "pr_1")
    lifecycle_twice(deps, card)
    assert status(deps, "pr_1") == "submitted"
    lifecycle_twice(deps, m.CardViewed(command_id="view-1", request_id="pr_1", agent_id=AGENT))
    lifecycle_twice(deps, m.CompleteRequest(command_id="complete-1", request_id="pr_1", agent_id=AGENT))
    assert status(deps, "pr_1") == "completed"
    # A redelivered older command stays a no-op once the request has moved on.
    assert lifecycle_twice(deps, card) == []


def test_lifecycle_failed_retry_cancel_decline_expire_purge(deps):
    lifecycle_twice(deps, create(deps, "pr_2"))
    lifecycle_twice(deps, delivered("pr_2", 1, ok=False))
    assert status(deps, "pr_2") == "failed"
    lifecycle_twice(
        deps, m.RetryRequest(command_id="retry-2", request_id="pr_2", agent_id=AGENT, token=ids.new_token())
    )
    assert status(deps, "pr_2") == "sending"
    lifecycle_twice(deps, m.CancelRequest(command_id="cancel-2", request_id="pr_2", agent_id=AGENT))
    assert status(deps, "pr_2") == "canceled"

    lifecycle_twice(deps, create(deps, "pr_3"))
    lifecycle_twice(deps, m.DeclineRequest(command_id="decline-3", request_id="pr_3"))
    assert status(deps, "pr_3") == "declined"

    lifecycle_twice(deps, create(deps, "pr_4"))
    lifecycle_twice(deps, m.ExpireRequest(command_id="expire:pr_4", request_id="pr_4", cause="deadline"))
    assert status(deps, "pr_4") == "expired"

    lifecycle_twice(deps, create(deps, "pr_5"))
    lifecycle_twice(deps, sealed_card(deps, "pr_5"))
    lifecycle_twice(deps, m.PurgeCard(command_id="purge:pr_5", request_id="pr_5"))
    with deps.store.read() as tx:
        assert repo.envelopes_of(tx, "pr_5") == []


def test_duplicate_create_with_another_token_sends_no_second_link(deps):
    """The same Idempotency-Key (or chat event) posted twice makes two commands with one id and two
    tokens: only the stored token's pay link is ever sent."""
    first = create(deps, "pr_6")
    emitted = lifecycle_twice(deps, first)
    link = next(x for x in emitted if isinstance(x, m.DeliverChatEvent)).event.data["pay_url"]
    assert link.endswith(first.token)
    again = msgspec.structs.replace(first, token=ids.new_token())
    before = snapshot(deps)
    lifecycle.handle(again, deps)
    resent, _ = deps.recorder.take()
    assert snapshot(deps) == before
    assert not any(isinstance(x, m.DeliverChatEvent) for x in resent)


def test_delivery(deps, sink):
    lifecycle.handle(create(deps, "pr_7"), deps)
    sent = next(x for x in deps.recorder.take()[0] if isinstance(x, m.DeliverChatEvent))
    (outcome,) = twice(deps, delivery.handle, sent)
    assert isinstance(outcome, m.DeliveryOutcome) and outcome.delivered
    # The webhook went out twice under one id: the chat system drops the repeat by webhook-id.
    assert [e["id"] for e in sink.events] == [sent.event.id] * 2

    sink.responder = lambda event: 503
    failing = m.DeliverChatEvent(
        event=OutboundChatEvent(
            id="msg_x",
            type="payment_request.canceled",
            occurred_at="2026-01-01T00:00:00Z",
            data={"request_id": "pr_7", "conversation_id": "c-1", "customer_id": "cu-1"},
        ),
        request_id="pr_7",
        version=2,
    )
    # A retry is scheduled each time; both carry the event's one id (and their own first-attempt time).
    retries = twice(deps, delivery.handle, failing, same_content=False)
    assert [(type(x), message_id(x)) for x in retries] == [(m.DeliverChatEvent, "msg_x")]


def test_expiry_end_conversation_and_sweeper(deps):
    for rid in ("pr_8", "pr_9"):
        lifecycle.handle(create(deps, rid, conversation_id="c-end"), deps)
    end = m.EndConversation(command_id="chat:ev-end", conversation_id="c-end", at=now_ms())
    emitted = twice(deps, expiry.handle, end)
    assert sorted(message_id(x) for x in emitted) == ["end:chat:ev-end:pr_8", "end:chat:ev-end:pr_9"]
    for message in emitted:
        lifecycle_twice(deps, message)  # type: ignore[arg-type]
    assert {status(deps, "pr_8"), status(deps, "pr_9")} == {"expired"}
    assert twice(deps, expiry.handle, end) == []

    lifecycle.handle(create(deps, "pr_10"), deps)
    deps.recorder.take()
    with deps.store.write() as tx:
        repo.update_fields(tx, "pr_10", expires_at=now_ms() - 1)
    sweeper = expiry.Sweeper(deps)
    assert sweeper.sweep() == 1
    assert sweeper.sweep() == 0
    # A restarted sweeper sends the same command again; the lifecycle runs it once.
    assert expiry.Sweeper(deps).sweep() == 1
    first, again = deps.recorder.take()[0]
    assert first == again == m.ExpireRequest(command_id="expire:pr_10", request_id="pr_10", cause="deadline")
    lifecycle_twice(deps, first)  # type: ignore[arg-type]
    assert status(deps, "pr_10") == "expired"


def test_vault_result_is_taken_once(deps, agent_key):
    lifecycle.handle(create(deps, "pr_11"), deps)
    first, second = (sealed_card(deps, "pr_11") for _ in range(2))
    assert first.command_id == second.command_id and first.envelopes != second.envelopes
    lifecycle.handle(first, deps)
    before = snapshot(deps)
    lifecycle.handle(second, deps)
    assert snapshot(deps) == before
    with deps.store.read() as tx:
        (stored,) = repo.envelopes_of(tx, "pr_11")
    # The first sealing stands: the agent's key opens it.
    assert stored["ct"] == first.envelopes[0].ct
    opened = sealing.open_envelope(Envelope(**stored), {"device-1": agent_key}, "pr_11")
    assert opened["number"] == CARD["number"]


def test_notify(deps):
    lifecycle.handle(create(deps, "pr_12"), deps)
    lifecycle.handle(sealed_card(deps, "pr_12"), deps)
    changes = [x for x in deps.recorder.take()[0] if isinstance(x, m.RequestChanged)]
    assert changes
    for change in changes:
        twice(deps, notify.handle, change)
    focus = m.FocusChanged(command_id="focus-1", agent_id=AGENT, customer_id="cu-1", at=now_ms())
    twice(deps, notify.handle, focus)
    with deps.store.read() as tx:
        assert repo.focus_of(tx, AGENT)["customer_id"] == "cu-1"


class Crash(Exception):
    """The worker dies after the commit, before its follow-ups are out."""


def crash_then_redeliver(d: Deps, message: m.LifecycleCommand) -> None:
    """Run ``message`` with a ``send`` that crashes, then again: the redelivery emits what was lost."""
    lost: list[msgspec.Struct] = []

    def crash(follow_up: msgspec.Struct, delay_ms: int | None) -> None:
        lost.append(follow_up)
        raise Crash

    with pytest.raises(Crash):
        lifecycle.handle(message, Deps(settings=d.settings, store=d.store, send=crash))
    d.recorder.take()  # type: ignore[attr-defined]
    lifecycle.handle(message, d)
    resent, _ = d.recorder.take()  # type: ignore[attr-defined]
    assert lost and lost[0] in resent, f"{type(message).__name__}: follow-ups lost in the crash"


def test_follow_ups_lost_in_a_crash_are_sent_on_redelivery(deps):
    crash_then_redeliver(deps, create(deps, "pr_13"))
    crash_then_redeliver(deps, delivered("pr_13", 1))
    crash_then_redeliver(deps, m.FormOpened(command_id="open-13", request_id="pr_13"))
    crash_then_redeliver(deps, sealed_card(deps, "pr_13"))
    crash_then_redeliver(deps, m.CardViewed(command_id="view-13", request_id="pr_13", agent_id=AGENT))
    crash_then_redeliver(deps, m.PurgeCard(command_id="purge:pr_13", request_id="pr_13"))
    crash_then_redeliver(deps, m.CancelRequest(command_id="cancel-13", request_id="pr_13", agent_id=AGENT))
