"""The notify actor on a real SQLite store: one id, one body, one number per change, however often
the change is delivered; the banner; focus ordering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actors import lifecycle, notify
from actors.deps import Deps
from chatpay.store import repo
from schemas import messages as m
from tests.support.units import card_sealed, create_command, give_key, recording_deps


class Sink:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, int, dict]] = []

    def publish(self, agent_id: str, event_id: str, seq: int, body: bytes) -> None:
        self.published.append((agent_id, event_id, seq, json.loads(body)))


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    d = recording_deps(tmp_path, events=Sink())
    give_key(d.store, "a-7")
    return d


def changes(deps: Deps) -> list[m.RequestChanged]:
    return [msg for msg in deps.sent if isinstance(msg, m.RequestChanged)]  # type: ignore[attr-defined]


def create(deps: Deps) -> m.CreateRequest:
    cmd = create_command()
    lifecycle.handle(cmd, deps)
    return cmd


def submit(deps: Deps) -> None:
    lifecycle.handle(card_sealed(), deps)


def focus(deps: Deps, customer_id: str | None, at: int) -> None:
    notify.handle(m.FocusChanged(command_id=f"f:{at}", agent_id="a-7", customer_id=customer_id, at=at), deps)


def test_redelivery_gives_one_notification(deps):
    """The lifecycle command and the notify message both delivered twice: one id, one number, one body."""
    cmd = create(deps)
    create_again = m.CreateRequest(**{f: getattr(cmd, f) for f in cmd.__struct_fields__})
    lifecycle.handle(create_again, deps)
    first, again = changes(deps)
    assert first.event_id == again.event_id
    notify.handle(first, deps)
    notify.handle(again, deps)
    (a1, id1, seq1, body1), (a2, id2, seq2, body2) = deps.events.published  # type: ignore[union-attr]
    assert (a1, id1, seq1) == (a2, id2, seq2) == ("a-7", first.event_id, 1)
    assert body1 == body2 and body1["id"] == first.event_id
    with deps.store.read() as tx:
        assert repo.notification_head(tx, "a-7") == 1
        assert [r["id"] for r in repo.notifications_between(tx, "a-7", 0, None, 10)] == [first.event_id]


def test_banner_is_decided_once(deps):
    create(deps)
    focus(deps, "cu-2", 1)
    submit(deps)
    (submitted,) = [c for c in changes(deps) if c.became_submitted]
    notify.handle(submitted, deps)
    focus(deps, "cu-1", 2)
    notify.handle(submitted, deps)  # redelivered after the agent opened the profile: same body
    bodies = [p[3] for p in deps.events.published]  # type: ignore[union-attr]
    assert bodies[0] == bodies[1] and bodies[0]["banner"] is True


def test_banner_only_when_focus_is_elsewhere(deps):
    create(deps)
    focus(deps, "cu-1", 5)
    focus(deps, None, 3)  # older than the focus recorded: ignored
    submit(deps)
    (submitted,) = [c for c in changes(deps) if c.became_submitted]
    notify.handle(submitted, deps)
    assert deps.events.published[-1][3]["banner"] is False  # type: ignore[union-attr]


def test_card_purge_is_not_a_new_submission(deps):
    create(deps)
    submit(deps)
    deps.sent.clear()  # type: ignore[attr-defined]
    lifecycle.handle(m.PurgeCard(command_id="purge:pr_1", request_id="pr_1"), deps)
    (purged,) = changes(deps)
    assert purged.request.status == "submitted" and purged.became_submitted is False
    assert not [msg for msg in deps.sent if isinstance(msg, m.DeliverChatEvent)]  # type: ignore[attr-defined]


def test_numbers_follow_the_changes_not_the_order_notify_runs_in(deps):
    """Logged with the change: two notify threads racing cannot swap a card view and a completion."""
    create(deps)
    submit(deps)
    lifecycle.handle(m.CardViewed(command_id="view", request_id="pr_1", agent_id="a-7"), deps)
    lifecycle.handle(m.CompleteRequest(command_id="done", request_id="pr_1", agent_id="a-7"), deps)
    for change in reversed(changes(deps)):
        notify.handle(change, deps)
    published = deps.events.published  # type: ignore[union-attr]
    assert [(seq, body["request"]["status"]) for _, _, seq, body in published] == [
        (5, "completed"),
        (4, "submitted"),  # card viewed
        (3, "submitted"),
        (2, "waiting_for_customer"),  # implied by the card arriving while sending
        (1, "sending"),
    ]


def test_a_lost_race_runs_again_at_once(deps, monkeypatch):
    """A compare-and-set lost to a concurrent change is run again on a fresh read, not after a
    Dramatiq retry backoff (that put 230 ms on the p99 of submit -> agent event on PostgreSQL)."""
    create(deps)
    transition, lost = repo.transition, []

    def racing(*args, **kwargs):
        if not lost:
            lost.append(True)
            return None
        return transition(*args, **kwargs)

    monkeypatch.setattr(repo, "transition", racing)
    lifecycle.handle(m.CancelRequest(command_id="cancel", request_id="pr_1", agent_id="a-7"), deps)
    assert lost and [c.request.status for c in changes(deps)] == ["sending", "canceled"]
