"""The expiry actor and its sweeper: deadlines live in the database, never in Dramatiq delays.

The sweeper (one elected process) looks every ``CHATPAY_SWEEP_INTERVAL`` for what is due, through
indexes, so the cost is O(due), not O(pending): requests past ``expires_at`` and sealed cards past
``available_until``. A restart loses nothing: the database is the truth.
"""

from __future__ import annotations

import logging
import threading
import time

from actors.deps import Deps
from chatpay.clock import now_ms
from chatpay.errors import ChatpayError
from chatpay.store import repo
from schemas.messages import EndConversation, ExpireRequest, PurgeCard

log = logging.getLogger("chatpay.expiry")

#: Most due rows one sweep sends out; the rest follow on the next sweep.
SWEEP_BATCH = 1000
#: Seconds before a due row is sent again if it is still due (its message may have been lost).
RESEND_AFTER = 10.0
#: Seconds between clean-ups of the inbox and the agent event log.
PRUNE_EVERY = 60.0
#: Days a handled command id is remembered for duplicate detection.
INBOX_DAYS = 2


def handle(cmd: EndConversation, deps: Deps) -> None:
    """``conversation.ended``: every open request in it expires, and later ones start expired."""
    with deps.store.write() as tx:
        if repo.seen_command(tx, cmd.command_id) is None:
            repo.record_command(tx, cmd.command_id, now_ms())
        repo.lock_conversation(tx, cmd.conversation_id)
        repo.end_conversation(tx, cmd.conversation_id, cmd.at)
        rows = repo.open_requests_in_conversation(tx, cmd.conversation_id)
    deps.emit(
        *(
            ExpireRequest(
                command_id=f"end:{cmd.command_id}:{r['id']}", request_id=r["id"], cause="conversation_ended"
            )
            for r in rows
        )
    )


class Sweeper:
    """A daemon thread that sends ``ExpireRequest`` and ``PurgeCard`` for what is due."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._stop = threading.Event()
        self._sent: dict[str, float] = {}
        self._last_prune = 0.0
        self._thread = threading.Thread(target=self._loop, name="chatpay-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.deps.settings.sweep_interval):
            try:
                if self.deps.store.try_leader_lock("sweeper"):
                    self.sweep()
            except (ChatpayError, OSError) as exc:
                log.warning("sweep failed: %s", exc)
            except Exception:
                log.exception("sweep failed")

    def sweep(self) -> int:
        """One pass; the number of messages sent."""
        now, mono = now_ms(), time.monotonic()
        self._sent = {k: t for k, t in self._sent.items() if mono - t < RESEND_AFTER}
        with self.deps.store.read() as tx:
            expiring = repo.due_for_expiry(tx, now, SWEEP_BATCH)
            purging = repo.due_for_purge(tx, now, SWEEP_BATCH)
        messages: list[ExpireRequest | PurgeCard] = [
            ExpireRequest(command_id=f"expire:{r['id']}", request_id=r["id"], cause="deadline")
            for r in expiring
            if f"expire:{r['id']}" not in self._sent
        ]
        messages += [
            PurgeCard(command_id=f"purge:{r['id']}", request_id=r["id"])
            for r in purging
            if f"purge:{r['id']}" not in self._sent
        ]
        for message in messages:
            self.deps.emit(message)
            self._sent[message.command_id] = mono
        self.deps.store.scrub()
        if mono - self._last_prune > PRUNE_EVERY:
            self._last_prune = mono
            with self.deps.store.write() as tx:
                repo.prune(
                    tx,
                    inbox_before=now - INBOX_DAYS * 86_400_000,
                    events_before=now - self.deps.settings.request_ttl * 1000,
                )
        return len(messages)
