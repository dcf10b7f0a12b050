"""CPU cost of Dramatiq itself on RabbitMQ: a no-op actor that re-sends one confirmed message.

Measures what one message costs a worker process before any chatpay code runs, to put the
per-flow numbers of ``chatpay bench flows`` in proportion. Run with RabbitMQ up:

    python scripts/dramatiq_ceiling.py amqp://guest:guest@127.0.0.1:5672/ 5000
"""

from __future__ import annotations

import resource
import sys
import threading
import time
import uuid

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "amqp://guest:guest@127.0.0.1:5672/"
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    broker = RabbitmqBroker(url=url, confirm_delivery=True)
    queue = f"ceiling-{uuid.uuid4().hex[:8]}"
    done = threading.Event()
    count = [0]
    lock = threading.Lock()

    @dramatiq.actor(broker=broker, queue_name=queue, max_retries=0)
    def hop(n: int) -> None:
        with lock:
            count[0] += 1
            if count[0] >= total:
                done.set()
        if n > 0:
            hop.send(n - 1)

    chains = 32
    for _ in range(chains):
        hop.send(total // chains)
    usage0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    worker = Worker(broker, worker_threads=8, worker_timeout=100)
    worker.start()
    done.wait(300)
    usage1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    worker.stop()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    import json

    print(
        json.dumps(
            {
                "messages": count[0],
                "seconds": round(t1 - t0, 2),
                "messages_per_s": round(count[0] / (t1 - t0)),
                "worker_cpu_us_per_message": round(cpu / count[0] * 1e6),
            }
        )
    )
    broker.channel.queue_delete(queue)
    broker.close()


if __name__ == "__main__":
    main()
