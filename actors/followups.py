"""What must happen after a request changes: outbound chat events and agent notifications.

Called inside the transaction that makes the change. Every message has an id derived from the
change, so a redelivered command can emit it again safely and its consumer drops duplicates. The
agent notification is also logged in that transaction (an outbox, idempotent by id): the agent's
notification numbers then follow the order of the changes themselves, and a notification exists
even if the process dies before it is published.
"""

from __future__ import annotations

import msgspec

from actors import notify
from chatpay import ids
from chatpay.clock import rfc3339
from chatpay.resources import resource
from chatpay.store import Row, Tx
from schemas.chat import OutboundChatEvent
from schemas.messages import DeliverChatEvent, RequestChanged
from schemas.status import Status

#: Outbound chat event sent when a request reaches each status.
OUTBOUND_TYPE: dict[Status, str] = {
    Status.SENDING: "payment_request.sent",
    Status.COMPLETED: "payment_request.accepted",
    Status.DECLINED: "payment_request.declined",
    Status.EXPIRED: "payment_request.expired",
    Status.CANCELED: "payment_request.canceled",
}

#: Timeline events that are not status changes but still notify the agent.
CUSTOMER_OPENED = "customer_opened"
CARD_VIEWED = "card_viewed"
CARD_PURGED = "card_purged"
NOT_STATUS_CHANGES = frozenset({CUSTOMER_OPENED, CARD_VIEWED, CARD_PURGED})


def pay_url(public_url: str, token: str) -> str:
    return f"{public_url}/pay/{token}"


def followups(
    tx: Tx,
    row: Row,
    *,
    seq: int,
    at: int,
    event: str,
    public_url: str,
    token: str | None = None,
) -> list[msgspec.Struct]:
    """The messages a change (timeline entry ``seq`` of request ``row``) sends."""
    status = Status(row["status"])
    is_status_change = event not in NOT_STATUS_CHANGES
    change = RequestChanged(
        event_id="ev_" + ids.derived("timeline", row["id"], str(seq)),
        type="customer.opened_payment_form" if event == CUSTOMER_OPENED else "payment_request.updated",
        at=at,
        request=resource(row),
        became_submitted=is_status_change and status is Status.SUBMITTED,
    )
    notify.record(tx, change)
    out: list[msgspec.Struct] = [change]
    kind = OUTBOUND_TYPE.get(status) if is_status_change else None
    if kind is not None and (status is not Status.SENDING or token is not None):
        out.append(
            DeliverChatEvent(
                event=OutboundChatEvent(
                    id="msg_" + ids.derived("outbound", row["id"], str(row["version"])),
                    type=kind,
                    occurred_at=rfc3339(at),
                    data=_chat_data(row, kind, public_url, token),
                ),
                request_id=row["id"],
                version=row["version"],
            )
        )
    return out


def _chat_data(row: Row, kind: str, public_url: str, token: str | None) -> dict[str, object]:
    data: dict[str, object] = {
        "request_id": row["id"],
        "conversation_id": row["conversation_id"],
        "customer_id": row["customer_id"],
    }
    if kind == "payment_request.sent":
        res = resource(row)
        assert token is not None
        data |= {
            "amount": res.amount,
            "currency": res.currency,
            "display_amount": res.display_amount,
            "reason": res.reason,
            "methods": res.methods,
            "pay_url": pay_url(public_url, token),
            "expires_at": res.expires_at,
        }
    return data
