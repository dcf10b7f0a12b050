"""``GET /v1/agents/me/events`` on real processes: resuming with ``Last-Event-ID`` without gaps or
repeats, reconnecting through a burst, the broker connection dropping, the embedded mode."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import jwt
import pytest

from tests.support.deployment import CARD, Agent, free_port
from tests.support.sse import AmqpTap, SseStream


def in_seq_order(tap: AmqpTap) -> list[str]:
    """The notification ids the tap saw, in the agent's sequence (the order of the changes; two
    published at nearly the same time by different worker threads may arrive the other way round)."""
    return [i for _, i in sorted(zip(tap.seqs, tap.message_ids, strict=True))]


def test_auth(deploy):
    d = deploy()
    with httpx.Client(base_url=d.url, timeout=5) as http:
        assert http.get("/v1/agents/me/events").status_code == 401
        assert http.get("/v1/agents/me/events?access_token=nope").status_code == 401
        with http.stream("GET", f"/v1/agents/me/events?access_token={d.token('a-7')}") as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            assert next(resp.iter_lines()).startswith("retry: ")
    secret = d.env["CHATPAY_AGENT_JWT_SECRET"]
    expiring = jwt.encode({"sub": "a-7", "exp": int(time.time()) - 27}, secret, algorithm="HS256")
    stream = SseStream(d.url, expiring)  # accepted within the leeway…
    assert stream.ended.wait(10)  # …and ended when that runs out
    stream.close()


def test_resume_with_last_event_id(deploy):
    """A dropped stream resumes where it stopped: what happened meanwhile is replayed once, then live."""
    d = deploy()
    agent = d.agent("a-7")
    tap = AmqpTap(d.env["CHATPAY_BROKER_URL"], "a-7")
    first = SseStream(d.url, d.token("a-7"))
    other = SseStream(d.url, d.token("a-8"))
    customer = d.customer()
    try:
        rid = str(agent.create()["id"])
        first.wait(2)
        first.close()
        token = d.sink.token(rid)
        assert customer.post(f"/v1/pay/{token}/open").status_code == 204
        assert (
            customer.post(f"/v1/pay/{token}/submit", json={"method": "card", "card": CARD}).status_code == 202
        )
        tap.wait(4)  # both happened while the agent was away

        second = SseStream(d.url, d.token("a-7"), last_event_id=first.last_id)
        assert [n["request"]["status"] for n in second.wait(2)] == ["waiting_for_customer", "submitted"]
        agent.open_card(rid)
        assert agent.action(rid, "complete").status_code == 202
        second.wait(4)
        assert first.ids + [n["id"] for n in second.quiet(0.3)] == in_seq_order(tap)
        assert first.ids + second.ids == in_seq_order(tap)
        assert sorted(first.items + second.items, key=lambda n: n["id"]) == sorted(
            tap.items, key=lambda n: n["id"]
        )
        assert other.quiet(0) == []
        second.close()
    finally:
        customer.close()
        other.close()
        tap.close()


def test_reconnecting_through_a_burst(deploy):
    """Streams dropped and resumed every few hundred milliseconds while 60 notifications are
    published by 8 worker threads: together they carry each exactly once, in the agent's sequence."""
    d = deploy(worker_threads=8)
    agent = d.agent("a-7")
    tap = AmqpTap(d.env["CHATPAY_BROKER_URL"], "a-7")
    stream = SseStream(d.url, d.token("a-7"))
    try:
        agent.create(conversation_id="c-0")
        streams = [stream]
        stream.wait(1)
        for i in range(1, 30):
            agent.create(conversation_id=f"c-{i}")
            if i % 5 == 0:
                stream.close()
                resume_at = next(s.last_id for s in reversed(streams) if s.ids)
                stream = SseStream(d.url, d.token("a-7"), last_event_id=resume_at)
                streams.append(stream)
        tap.wait(60)
        expected = in_seq_order(tap)
        stream.wait(60 - sum(len(s.ids) for s in streams[:-1]))
        assert [i for s in streams for i in s.ids] == expected
        assert len(set(expected)) == 60
    finally:
        stream.close()
        tap.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_broker_connection_drop(deploy):
    """The gateway's AMQP connection is closed under it: the open stream stays open, bindings come
    back, and what was published meanwhile is read from the log, in order, once."""
    d = deploy(worker_threads=1)  # whose connections are all open after the first request
    agent = d.agent("a-7")
    tap = AmqpTap(d.env["CHATPAY_BROKER_URL"], "a-7")
    sse = SseStream(d.url, d.token("a-7"))
    try:
        agent.create(conversation_id="c-1")
        sse.wait(2)
        vhost = d.env["CHATPAY_BROKER_URL"].rsplit("/", 1)[1]
        rabbitmqctl("set_vhost_limits", "-p", vhost, '{"max-connections": 0}')  # open ones stay
        try:
            close_connection(vhost, "chatpay gateway agent events")
            for i in range(2, 5):
                agent.create(conversation_id=f"c-{i}")
            tap.wait(8)  # published while the bridge cannot reconnect
        finally:
            rabbitmqctl("clear_vhost_limits", "-p", vhost)
        sse.wait(8, timeout=20)
        assert sse.ids == in_seq_order(tap)
        assert not sse.ended.is_set()
        assert "broker channel restored; rebinding 1 agents" in d.logs()
    finally:
        sse.close()
        tap.close()


def rabbitmqctl(*args: str) -> str:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, check=True).stdout


def close_connection(vhost: str, name: str) -> None:
    listing = rabbitmqctl("list_connections", "pid", "vhost", "client_properties", "--no-table-headers")
    rows = [line.split("\t", 2) for line in listing.splitlines()]
    pids = [row[0] for row in rows if len(row) == 3 and row[1] == vhost and name in row[2]]
    assert len(pids) == 1, listing
    rabbitmqctl("close_connection", pids[0], "test: broker connection drop")


def test_embedded_mode(tmp_path: Path):
    """``chatpay up`` without a broker: the in-process hub feeds the stream, the log replays."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    secret = "embedded-test-secret-0123456789abcdef"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATPAY_")}
    env["CHATPAY_AGENT_JWT_SECRET"] = secret
    log = (tmp_path / "up.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chatpay.cli",
            "up",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    token = jwt.encode({"sub": "a-7", "exp": int(time.time()) + 600}, secret, algorithm="HS256")
    try:
        wait_ready(url, proc)
        agent = Agent(SimpleNamespace(url=url, token=lambda agent_id: token), "a-7")  # type: ignore[arg-type]
        agent.register_key()
        sse = SseStream(url, token)
        rid = str(agent.create()["id"])
        first, second = sse.wait(2)
        assert (first["request"]["status"], second["request"]["status"]) == (
            "sending",
            "waiting_for_customer",
        )
        resumed = SseStream(url, token, last_event_id=sse.ids[0])
        assert resumed.wait(1) == [second]
        assert agent.action(rid, "cancel").status_code == 202
        assert resumed.wait(2)[1]["request"]["status"] == "canceled"
        assert sse.wait(3) == [first, second, resumed.items[1]]
        for s in (sse, resumed):
            s.close()
        agent.http.close()
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
    assert "in-process broker" in (tmp_path / "up.log").read_text()


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("chatpay up did not become ready")
