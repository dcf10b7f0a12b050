"""Bench harness units (API.md §12): percentiles, the signed chat sink, the mailbox, SSE parsing, pacing."""

from __future__ import annotations

import asyncio
import base64
import collections
import datetime
import math
import random
import time
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from standardwebhooks import Webhook

from chatpay.bench import agents, cli, flows, http1
from chatpay.bench.mailbox import Arrival, FlowError, Mailbox
from chatpay.bench.sink import Sink
from chatpay.bench.stats import percentile, rate, summarize

SECRET = "whsec_" + base64.b64encode(b"bench-outbound-secret-0123456789").decode()


def _nearest_rank(samples: list[float], p: float) -> float:
    """The textbook definition, slowly: the least x with at least p% of samples ≤ x."""
    for x in sorted(samples):
        if sum(s <= x for s in samples) >= p / 100 * len(samples):
            return x
    raise AssertionError("unreachable")


# --- stats ---------------------------------------------------------------------------------------------


def test_percentile_nearest_rank_known_values() -> None:
    data = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert percentile(data, 5) == 15.0
    assert percentile(data, 30) == 20.0
    assert percentile(data, 40) == 20.0
    assert percentile(data, 50) == 35.0
    assert percentile(data, 100) == 50.0


def test_percentile_one_to_hundred() -> None:
    data = [float(i) for i in range(100, 0, -1)]  # unsorted input
    assert percentile(data, 50) == 50.0
    assert percentile(data, 95) == 95.0
    assert percentile(data, 99) == 99.0
    assert percentile(data, 99.5) == 100.0
    assert percentile(data, 0) == 1.0
    assert percentile(data, 100) == 100.0


def test_percentile_small_samples() -> None:
    assert percentile([7.0], 0) == percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0], 50) == 1.0
    assert percentile([1.0, 2.0], 50.1) == 2.0
    # p99 of fewer than 100 samples is the maximum
    assert percentile([float(i) for i in range(10)], 99) == 9.0


def test_percentile_matches_definition_on_random_samples() -> None:
    rng = random.Random(12)
    for _ in range(200):
        data = [rng.choice([rng.random(), 0.5]) for _ in range(rng.randint(1, 40))]
        for p in (0.0, 1.0, 25.0, 50.0, 90.0, 95.0, 99.0, 100.0, rng.uniform(0, 100)):
            assert percentile(data, p) == _nearest_rank(data, p)


def test_percentile_does_not_mutate_and_presorted_agrees() -> None:
    data = [3.0, 1.0, 2.0]
    assert percentile(data, 50) == 2.0
    assert data == [3.0, 1.0, 2.0]
    assert percentile(sorted(data), 50, presorted=True) == 2.0


@pytest.mark.parametrize("p", [-0.1, 100.1, math.nan])
def test_percentile_rejects_bad_p(p: float) -> None:
    with pytest.raises(ValueError):
        percentile([1.0], p)


def test_percentile_rejects_empty() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summarize_in_milliseconds() -> None:
    samples = [i / 1000 for i in range(1, 101)]  # 1…100 ms
    assert summarize(samples) == {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0, "max_ms": 100.0}


def test_summarize_empty_is_all_none() -> None:
    assert summarize([]) == {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}


def test_rate() -> None:
    assert rate(10, 4.0) == 2.5
    assert rate(10, 0.0) == 0.0


# --- mailbox -------------------------------------------------------------------------------------------


async def test_mailbox_keeps_arrivals_until_claimed_and_counts_duplicates() -> None:
    box = Mailbox()
    assert box.deliver("pr_1", "sent", Arrival(at=1.0, data={"pay_url": "u"}))
    assert not box.deliver("pr_1", "sent", Arrival(at=2.0))
    got = await box.wait("pr_1", "sent", timeout=1)
    assert (got.at, got.data) == (1.0, {"pay_url": "u"})
    box.close("pr_1")
    assert not box.deliver("pr_1", "accepted", Arrival(at=3.0))
    assert box.duplicates == 2
    assert box.unclaimed() == 0


async def test_mailbox_wait_then_deliver() -> None:
    box = Mailbox()
    waiter = asyncio.create_task(box.wait("pr_2", "submitted", timeout=5))
    await asyncio.sleep(0)
    box.deliver("pr_2", "submitted", Arrival(at=4.0))
    assert (await waiter).at == 4.0


async def test_mailbox_timeout_and_failure_are_flow_errors() -> None:
    box = Mailbox()
    with pytest.raises(FlowError, match="timeout waiting for sent"):
        await box.wait("pr_3", "sent", timeout=0.01)
    waiter = asyncio.create_task(box.wait("pr_3", "accepted", timeout=5))
    await asyncio.sleep(0)
    box.fail("pr_3", "sink got payment_request.expired", at=1.0)
    with pytest.raises(FlowError, match="expired"):
        await waiter
    with pytest.raises(FlowError, match="expired"):  # later waits fail at once
        await box.wait("pr_3", "submitted", timeout=5)


# --- sink ----------------------------------------------------------------------------------------------


def _signed(body: bytes, secret: str = SECRET, msg_id: str = "msg_1") -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
    }


def _event(kind: str, request_id: str, **data: str) -> bytes:
    return msgspec.json.encode(
        {
            "id": "ev_1",
            "type": kind,
            "occurred_at": "2026-01-01T00:00:00Z",
            "data": {"request_id": request_id, **data},
        }
    )


@pytest.fixture
async def sink() -> AsyncIterator[tuple[Sink, Mailbox, str]]:
    box = Mailbox()
    server = Sink(SECRET, box)
    port = await server.start("127.0.0.1", 0)
    yield server, box, f"http://127.0.0.1:{port}/"
    await server.stop()


async def test_sink_resolves_signed_events(sink: tuple[Sink, Mailbox, str]) -> None:
    server, box, url = sink
    sent = _event("payment_request.sent", "pr_a", pay_url="http://127.0.0.1:8000/pay/tok")
    accepted = _event("payment_request.accepted", "pr_a")
    async with httpx.AsyncClient() as client:  # one keep-alive connection for both
        assert (await client.post(url, content=sent, headers=_signed(sent))).status_code == 204
        assert (
            await client.post(url, content=accepted, headers=_signed(accepted, msg_id="m2"))
        ).status_code == 204
    got = await box.wait("pr_a", "sent", timeout=1)
    assert got.data["pay_url"].endswith("/pay/tok")
    assert got.at <= time.perf_counter()
    await box.wait("pr_a", "accepted", timeout=1)
    assert not server.errors
    assert server.received == {"payment_request.sent": 1, "payment_request.accepted": 1}


async def test_sink_rejects_bad_signatures_and_counts_them(sink: tuple[Sink, Mailbox, str]) -> None:
    server, box, url = sink
    body = _event("payment_request.sent", "pr_b", pay_url="http://x/pay/t")
    wrong_secret = "whsec_" + base64.b64encode(b"another-secret-another-secret-00").decode()
    tampered = _signed(body)
    tampered["webhook-signature"] = "v1,AAAA"
    stale = _signed(body)
    stale["webhook-timestamp"] = str(int(time.time()) - 3600)
    garbage = _signed(body)
    garbage["webhook-signature"] = "not a signature"
    async with httpx.AsyncClient() as client:
        for headers in (_signed(body, wrong_secret), tampered, stale, garbage, {"content-type": "x"}):
            resp = await client.post(url, content=body, headers=headers)
            assert resp.status_code == 401
        # a body altered after signing
        resp = await client.post(url, content=body.replace(b"pr_b", b"pr_c"), headers=_signed(body))
        assert resp.status_code == 401
    assert server.errors == {"sink: bad signature": 6}
    assert box.unclaimed() == 0
    with pytest.raises(FlowError, match="timeout"):
        await box.wait("pr_b", "sent", timeout=0.01)


async def test_sink_failure_events_fail_the_flow(sink: tuple[Sink, Mailbox, str]) -> None:
    _, box, url = sink
    body = _event("payment_request.expired", "pr_d")
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, content=body, headers=_signed(body))).status_code == 204
    with pytest.raises(FlowError, match=r"sink got payment_request\.expired"):
        await box.wait("pr_d", "accepted", timeout=1)


async def test_sink_reads_chunked_bodies(sink: tuple[Sink, Mailbox, str]) -> None:
    server, box, url = sink
    body = _event("payment_request.accepted", "pr_e")

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:10]
        yield body[10:]

    async with httpx.AsyncClient() as client:
        resp = await client.post(url, content=chunks(), headers=_signed(body))
    assert resp.status_code == 204
    await box.wait("pr_e", "accepted", timeout=1)
    assert not server.errors


async def test_sink_malformed_requests_are_errors(sink: tuple[Sink, Mailbox, str]) -> None:
    server, _, url = sink
    body = b'{"type": "payment_request.sent"}'
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, content=body, headers=_signed(body))).status_code == 400
        assert (await client.get(url)).status_code == 405
    assert server.errors == {"sink: malformed event": 1, "sink: not a POST": 1}


# --- agent stream --------------------------------------------------------------------------------------


def _sse(*events: dict[str, object]) -> bytes:
    out = b": keep-alive\n\n"
    for n, ev in enumerate(events):
        out += f"id: {n}\nevent: message\ndata: ".encode() + msgspec.json.encode(ev) + b"\n\n"
    return out


async def test_sse_events_are_demultiplexed_by_request_and_status() -> None:
    body = _sse(
        {"type": "payment_request.updated", "request": {"id": "pr_1", "status": "waiting_for_customer"}},
        {"type": "payment_request.updated", "request": {"id": "pr_1", "status": "submitted"}},
        {"type": "payment_request.updated", "request": {"id": "pr_2", "status": "expired"}},
        {"type": "something.else"},
    )
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=body))
    box = Mailbox()
    errors: collections.Counter[str] = collections.Counter()
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client,
        client.stream("GET", "/v1/agents/me/events") as resp,
    ):
        last_id = await agents._read_events(resp, box, None, errors)
    assert last_id == "3"
    assert not errors
    assert (await box.wait("pr_1", "submitted", timeout=1)).data["status"] == "submitted"
    with pytest.raises(FlowError, match="status expired"):
        await box.wait("pr_2", "submitted", timeout=1)


async def test_sse_non_json_data_is_counted() -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=b"data: {oops\n\n"))
    errors: collections.Counter[str] = collections.Counter()
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client,
        client.stream("GET", "/") as resp,
    ):
        await agents._read_events(resp, Mailbox(), None, errors)
    assert errors == {"sse: malformed event": 1}


def test_agent_token_is_hs256_with_sub_and_exp() -> None:
    import jwt

    claims = jwt.decode(agents.mint_token("a-7", "s" * 32), "s" * 32, algorithms=["HS256"])
    assert claims["sub"] == "a-7"
    assert claims["exp"] > time.time()


# --- pacing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate_per_s", [None, 400.0])
async def test_drive_plays_every_flow_once_within_the_cap(rate_per_s: float | None) -> None:
    played: list[int] = []
    in_flight = peak = 0

    async def play(i: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        played.append(i)
        in_flight -= 1

    start = time.perf_counter()
    await flows._drive(40, 3, rate_per_s, play)
    assert sorted(played) == list(range(40))
    assert peak <= 3
    if rate_per_s:
        assert time.perf_counter() - start >= 39 / rate_per_s


async def test_drive_open_loop_keeps_the_rate() -> None:
    starts: list[float] = []

    async def play(i: int) -> None:
        starts.append(time.perf_counter())
        await asyncio.sleep(0.05)  # slower than the start interval: open loop does not wait for it

    assert await flows._drive(20, 100, 200.0, play) <= 2
    assert starts[-1] - starts[0] == pytest.approx(19 / 200, abs=0.03)


# --- command line --------------------------------------------------------------------------------------


def test_cli_parses_both_commands() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="chatpay")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "bench",
            "flows",
            "--url",
            "http://127.0.0.1:8000",
            "--sink-port",
            "9100",
            "--flows",
            "5",
            "--rate",
            "2",
        ]
    )
    assert (args.bench_command, args.flows, args.rate, args.json, args.func) == (
        "flows",
        5,
        2.0,
        False,
        cli.run,
    )
    args = parser.parse_args(
        ["bench", "ingest", "--url", "http://127.0.0.1:8000", "--seconds", "2", "--json"]
    )
    assert (args.bench_command, args.seconds, args.json) == ("ingest", 2.0, True)


def test_cli_refuses_remote_urls_and_missing_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CHATPAY_CHAT_INBOUND_SECRET", raising=False)
    assert cli.main(["ingest", "--url", "http://127.0.0.1:1", "--seconds", "1"]) == cli.EXIT_SETUP
    assert "CHATPAY_CHAT_INBOUND_SECRET is not set" in capsys.readouterr().err
    monkeypatch.setenv("CHATPAY_CHAT_INBOUND_SECRET", SECRET)
    assert cli.main(["ingest", "--url", "http://example.com", "--seconds", "1"]) == cli.EXIT_SETUP
    assert "local deployment" in capsys.readouterr().err


# --- the bench's HTTP/1.1 client -----------------------------------------------------------------------


async def test_http1_connection_keeps_alive_against_the_sink(sink: tuple[Sink, Mailbox, str]) -> None:
    server, box, url = sink
    conn = http1.Connection(url.rstrip("/"), timeout=5)
    try:
        for n in range(3):
            body = _event("payment_request.sent", f"pr_k{n}", pay_url="http://x/pay/t")
            headers = {k: v for k, v in _signed(body, msg_id=f"m{n}").items() if k != "content-type"}
            assert await conn.request("POST", "/", headers, body) == (204, b"")
        assert len(server._connections) == 1
    finally:
        conn.close()
    assert box.unclaimed() == 3


async def test_http1_connection_reads_chunked_answers_and_reports_closes() -> None:
    answers = [
        b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno",
    ]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            _, headers = http1.parse_head(await reader.readuntil(b"\r\n\r\n"))
            await http1.read_body(reader, headers)
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = http1.Connection(f"http://127.0.0.1:{port}", timeout=5)
    try:
        assert await conn.request("POST", "/x", {}, b"{}") == (202, b"abcde")
        assert await conn.request("POST", "/x", {}, b"{}") == (503, b"no")
        with pytest.raises(OSError):  # the server is gone: refused, reset or closed
            server.close()
            await server.wait_closed()
            await conn.request("POST", "/x", {}, b"{}")
    finally:
        conn.close()


async def test_http1_retries_once_when_a_kept_alive_connection_was_closed() -> None:
    """A server closing an idle keep-alive connection is not an error: the request goes on a new one."""
    served = 0

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        _, headers = http1.parse_head(await reader.readuntil(b"\r\n\r\n"))
        await http1.read_body(reader, headers)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")  # keep-alive, then hang up
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve_one, "127.0.0.1", 0)
    pool = http1.Pool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", size=1, timeout=5)
    try:
        for _ in range(3):
            assert await pool.request("GET", "/") == (200, b"ok")
            await asyncio.sleep(0.05)  # let the close arrive
    finally:
        pool.close()
        server.close()
        await server.wait_closed()
    assert served == 3
