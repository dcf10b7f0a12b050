"""2,000 agents, each with an open ``GET /v1/agents/me/events``, held by one gateway process:
one AMQP queue and no thread per connection; each stream gets its own agent's event and no other.
The gateway's memory before and after is written to ``test-artifacts/sse_scale.json``."""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pika
import pytest

from chatpay.agent_events import EXCHANGE, SEQ_HEADER, routing_key

CONNECTIONS = 2000
#: Connections opened at once while connecting.
OPENING = 200
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "sse_scale.json"


def raise_fd_limit(wanted: int) -> None:
    """For this process and the gateway it spawns (children inherit the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def rss_mib(pid: int) -> float:
    return int(proc_status(pid)["VmRSS"].split()[0]) / 1024


class Stream:
    """One raw SSE connection: headers read, then every event id seen."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.ids: list[str] = []

    @classmethod
    async def open(cls, host: str, port: int, token: str) -> Stream:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            f"GET /v1/agents/me/events HTTP/1.1\r\nhost: {host}:{port}\r\n"
            f"authorization: Bearer {token}\r\naccept: text/event-stream\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        return cls(reader, writer)

    async def read_event(self) -> str:
        """The id of the next event (chunk framing and keep-alives skipped)."""
        while True:
            line = await self.reader.readline()
            if line.startswith(b"id: "):
                self.ids.append(line[4:].strip().decode())
                return self.ids[-1]
            assert line, "stream closed"

    def close(self) -> None:
        self.writer.close()


def publish_one_each(broker_url: str, agents: list[str]) -> None:
    """Notification number 1 of every agent, straight onto the exchange."""
    conn = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = conn.channel()
    channel.confirm_delivery()
    for agent_id in agents:
        channel.basic_publish(
            EXCHANGE,
            routing_key(agent_id),
            json.dumps({"agent_id": agent_id}).encode(),
            pika.BasicProperties(message_id=f"ev_{agent_id}", headers={SEQ_HEADER: 1}),
        )
    conn.close()


def queues_of(vhost: str) -> list[list[str]]:
    out = subprocess.run(
        ["rabbitmqctl", "list_queues", "-p", vhost, "name", "consumers", "--no-table-headers"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines() if line.startswith("chatpay.sse.")]


def bindings_to(vhost: str, queue: str) -> int:
    out = subprocess.run(
        [
            "rabbitmqctl",
            "list_bindings",
            "-p",
            vhost,
            "destination_name",
            "routing_key",
            "--no-table-headers",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(1 for line in out.splitlines() if line.startswith(queue + "\t") and "\tagent." in line)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_two_thousand_streams_in_one_gateway(deploy):
    raise_fd_limit(CONNECTIONS * 2 + 1024)
    d = deploy()
    assert d.gateway is not None
    pid = d.gateway.pid
    secret = d.env["CHATPAY_AGENT_JWT_SECRET"]
    vhost = d.env["CHATPAY_BROKER_URL"].rsplit("/", 1)[1]
    parts = urlsplit(d.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    agents = [f"scale-{i}" for i in range(CONNECTIONS)]
    exp = int(time.time()) + 3600
    tokens = [jwt.encode({"sub": a, "exp": exp}, secret, algorithm="HS256") for a in agents]

    async def run() -> dict[str, float]:
        warm = await Stream.open(host, port, tokens[0])  # imports and pools in place before measuring
        warm.close()
        await asyncio.sleep(0.5)
        before = rss_mib(pid)
        gate = asyncio.Semaphore(OPENING)

        async def open_one(token: str) -> Stream:
            async with gate:
                return await Stream.open(host, port, token)

        started = time.monotonic()
        streams = await asyncio.gather(*(open_one(t) for t in tokens))
        connect_s = time.monotonic() - started
        await asyncio.sleep(0.5)
        after = rss_mib(pid)
        threads = int(proc_status(pid)["Threads"])
        (queue,) = queues_of(vhost)
        assert queue[1] == "1"  # one queue, one consumer, for every stream
        assert bindings_to(vhost, queue[0]) == CONNECTIONS

        started = time.monotonic()
        await asyncio.to_thread(publish_one_each, d.env["CHATPAY_BROKER_URL"], agents)
        async with asyncio.timeout(60):
            received = await asyncio.gather(*(s.read_event() for s in streams))
        deliver_s = time.monotonic() - started
        assert received == [f"ev_{a}" for a in agents]  # each its own, exactly

        for s in streams:
            s.close()
        deadline = time.monotonic() + 20
        while bindings_to(vhost, queue[0]) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert bindings_to(vhost, queue[0]) == 0  # unbound as the streams went
        return {
            "connections": CONNECTIONS,
            "gateway_rss_before_mib": round(before, 1),
            "gateway_rss_after_mib": round(after, 1),
            "kib_per_connection": round((after - before) * 1024 / CONNECTIONS, 1),
            "gateway_threads": threads,
            "connect_seconds": round(connect_s, 2),
            "deliver_all_seconds": round(deliver_s, 2),
        }

    result = asyncio.run(run())
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(result, indent=2) + "\n")
    print("\nSSE scale:", json.dumps(result))
    assert result["gateway_threads"] < 100  # no thread per connection
    assert result["kib_per_connection"] < 256
