"""The Dramatiq broker: RabbitMQ with publisher confirms, or the in-process stub for ``chatpay up``."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker, dq_name, xq_name
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Retries

from chatpay.config import Settings
from chatpay.messaging import MsgspecEncoder


def queue_arguments(queue: str, queue_type: str) -> dict[str, Any]:
    """Arguments of a work queue, identical on every declaration (gateway and workers)."""
    args: dict[str, Any] = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": xq_name(queue)}
    if queue_type == "quorum":
        args["x-queue-type"] = "quorum"
    return args


class ChatpayRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's RabbitMQ broker, with quorum queues when ``CHATPAY_QUEUE_TYPE=quorum``."""

    def __init__(self, *, queue_type: str = "classic", **kwargs: Any) -> None:
        self.queue_type = queue_type
        super().__init__(**kwargs)

    def _build_queue_arguments(self, queue_name: str) -> dict[str, Any]:
        return queue_arguments(queue_name.removesuffix(".DQ"), self.queue_type)


class DeadLetterOnFailedRetry(Retries):
    """Dramatiq's retries, but a retry that cannot be enqueued dead-letters the message.

    Stock Dramatiq logs the failed enqueue and then acks the message: it would be lost when the
    broker drops a connection at that moment. Failing it instead nacks it into ``<queue>.XQ``.
    """

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        try:
            super().after_process_message(broker, message, result=result, exception=exception)
        except Exception:
            message.fail()
            raise


def make_broker(settings: Settings) -> dramatiq.Broker:
    """Create the broker and make it, and the msgspec encoder, Dramatiq's globals."""
    dramatiq.set_encoder(MsgspecEncoder())
    broker: dramatiq.Broker
    if settings.embedded:
        broker = StubBroker()
        broker.emit_after("process_boot")
    else:
        broker = ChatpayRabbitmqBroker(
            url=settings.broker_url,
            confirm_delivery=True,
            queue_type=settings.queue_type,
        )
    for i, middleware in enumerate(broker.middleware):
        if type(middleware) is Retries:
            broker.middleware[i] = DeadLetterOnFailedRetry()
    broker.add_middleware(CurrentMessage())
    dramatiq.set_broker(broker)
    # Dramatiq logs message arguments at DEBUG: keep its loggers at INFO or above.
    logging.getLogger("dramatiq").setLevel(max(logging.INFO, logging.getLogger("dramatiq").level))
    return broker


__all__ = ["ChatpayRabbitmqBroker", "dq_name", "make_broker", "queue_arguments", "xq_name"]
