"""Lifecycle rules beyond the transition table, on a real SQLite store with a recording ``send``."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import lifecycle
from actors.deps import Deps
from chatpay import ids
from chatpay.clock import now_ms
from chatpay.store import repo
from schemas import messages as m
from tests.support.units import card_sealed, create_command, give_key, recording_deps, request_status


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    d = recording_deps(tmp_path)
    give_key(d.store, "a-7")
    return d


def create(deps: Deps, request_id: str = "pr_1", agent_id: str = "a-7") -> None:
    lifecycle.handle(create_command(request_id, agent_id=agent_id), deps)


status = request_status
sealed = card_sealed


def test_card_arriving_while_sending_implies_delivery(deps):
    create(deps)
    assert status(deps) == "sending"
    lifecycle.handle(sealed(), deps)
    assert status(deps) == "submitted"
    with deps.store.read() as tx:
        events = [e["event"] for e in repo.conversation_timeline(tx, "c-1", "a-7")]
    assert events == ["created", "delivered", "submitted"]
    # the late webhook outcome changes nothing
    lifecycle.handle(
        m.DeliveryOutcome(
            command_id="d1", request_id="pr_1", version=1, delivered=True, attempts=1, last_error=None
        ),
        deps,
    )
    assert status(deps) == "submitted"


def test_create_without_agent_key_fails_with_reason(deps):
    create(deps, "pr_2", agent_id="a-nokey")
    with deps.store.read() as tx:
        row = repo.get_request(tx, "pr_2")
    assert (
        row is not None and row["status"] == "failed" and row["delivery_last_error"] == "agent_key_required"
    )
    lifecycle.handle(
        m.RetryRequest(command_id="r1", request_id="pr_2", agent_id="a-nokey", token=ids.new_token()), deps
    )
    assert status(deps, "pr_2") == "failed"


def test_other_agents_commands_are_ignored(deps):
    create(deps)
    lifecycle.handle(
        m.DeliveryOutcome(
            command_id="d1", request_id="pr_1", version=1, delivered=True, attempts=1, last_error=None
        ),
        deps,
    )
    lifecycle.handle(m.CancelRequest(command_id="x1", request_id="pr_1", agent_id="a-8"), deps)
    assert status(deps) == "waiting_for_customer"


def test_completion_purges_the_envelopes(deps):
    create(deps)
    lifecycle.handle(sealed(), deps)
    lifecycle.handle(m.CompleteRequest(command_id="k1", request_id="pr_1", agent_id="a-7"), deps)
    with deps.store.read() as tx:
        assert repo.envelopes_of(tx, "pr_1") == []
        row = repo.get_request(tx, "pr_1")
    assert row is not None and row["status"] == "completed" and row["card_purged_at"] is not None


def test_conversation_ended_first_makes_later_creates_expired(deps):
    with deps.store.write() as tx:
        repo.end_conversation(tx, "c-1", now_ms())
    create(deps)
    assert status(deps) == "expired"
