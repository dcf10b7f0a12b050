"""The payment-request state machine (API.md §3): the one table every component reads."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    SENDING = "sending"
    WAITING_FOR_CUSTOMER = "waiting_for_customer"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    DECLINED = "declined"
    EXPIRED = "expired"
    FAILED = "failed"
    CANCELED = "canceled"


#: What the agent sees for each status.
LABELS: dict[Status, str] = {
    Status.SENDING: "SENDING",
    Status.WAITING_FOR_CUSTOMER: "WAITING FOR CUSTOMER",
    Status.SUBMITTED: "VIEW CARD",
    Status.COMPLETED: "PAYMENT ACCEPTED",
    Status.DECLINED: "CUSTOMER DECLINED PAYMENT",
    Status.EXPIRED: "REQUEST EXPIRED",
    Status.FAILED: "TRY AGAIN",
    Status.CANCELED: "CANCELED",
}

#: Allowed transitions; anything else is a conflict (409).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.SENDING: frozenset({Status.WAITING_FOR_CUSTOMER, Status.FAILED, Status.EXPIRED, Status.CANCELED}),
    Status.FAILED: frozenset({Status.SENDING, Status.CANCELED, Status.EXPIRED}),
    Status.WAITING_FOR_CUSTOMER: frozenset(
        {Status.SUBMITTED, Status.DECLINED, Status.EXPIRED, Status.CANCELED}
    ),
    Status.SUBMITTED: frozenset({Status.COMPLETED, Status.CANCELED}),
    Status.COMPLETED: frozenset(),
    Status.DECLINED: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.CANCELED: frozenset(),
}

#: Statuses a request never leaves.
FINAL: frozenset[Status] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

#: Statuses that keep a request on the agent's My Customers list.
ACTIVE: frozenset[Status] = frozenset(Status) - FINAL

#: Statuses that end when the request's deadline passes.
EXPIRABLE: frozenset[Status] = frozenset(s for s, nxt in TRANSITIONS.items() if Status.EXPIRED in nxt)

#: Statuses a customer action on may answer 410 Gone rather than 409 Conflict.
GONE_FOR_CUSTOMER: frozenset[Status] = frozenset({Status.EXPIRED, Status.CANCELED})


def can_move(current: Status, target: Status) -> bool:
    """True when ``current → target`` is an allowed transition."""
    return target in TRANSITIONS[current]


def sources_of(target: Status) -> tuple[Status, ...]:
    """Every status from which ``target`` may be reached (for compare-and-set updates)."""
    return tuple(s for s, nxt in TRANSITIONS.items() if target in nxt)
