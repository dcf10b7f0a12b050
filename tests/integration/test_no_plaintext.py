"""No card data at rest or in transit outside the two ends (API.md §7, DESIGN.md).

Payment flows run with three test cards whose holder name and CVCs were chosen so that a hit means a
leak; then the gateway and worker logs, the database (SQLite files, or every PostgreSQL table), every
message RabbitMQ carried (a firehose trace, read back from a spy queue), the chat webhooks, error bodies
and metrics are searched for each PAN (digits, grouped, dashed), the holder's name and each CVC as a value.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pika
import psycopg

from tests.support.deployment import Deployment

#: A holder name that occurs nowhere by chance.
NAME = "Quillon Thistlewaite-Vasquez"
#: (number as typed, digits, grouping, CVC). CVCs are searched as values (``"cvc": "…"``, ``"…"``):
#: bare three digits occur by chance in timestamps and ids, quoted or labelled they do not.
CARDS = (
    ("4111 1111 1111 1111", "4111111111111111", (4, 4, 4, 4), "482"),
    ("5555555555554444", "5555555555554444", (4, 4, 4, 4), "613"),
    ("3782 822463 10005", "378282246310005", (4, 6, 5), "7294"),
)
#: The queue bound to the vhost's firehose (``amq.rabbitmq.trace``).
SPY = "spy.firehose"


def grouped(digits: str, groups: tuple[int, ...], sep: str) -> str:
    out, at = [], 0
    for size in groups:
        out.append(digits[at : at + size])
        at += size
    return sep.join(out)


def leak_patterns() -> list[re.Pattern[bytes]]:
    patterns = [re.compile(re.escape(NAME.encode()), re.I), re.compile(rb"Thistlewaite", re.I)]
    for _, digits, groups, cvc in CARDS:
        for sep in ("", " ", "-"):
            patterns.append(re.compile(re.escape(grouped(digits, groups, sep).encode())))
        patterns.append(re.compile(rb"""["']%s["']""" % cvc.encode()))
        patterns.append(re.compile(rb"cvc\W{0,8}%s" % cvc.encode(), re.I))
    return patterns


def leaks(where: str, data: bytes) -> list[str]:
    return [f"{where}: {p.pattern!r}" for p in leak_patterns() if p.search(data)]


def card(typed: str, cvc: str, **extra: object) -> dict[str, object]:
    return {"number": typed, "name": NAME, "exp_month": 12, "exp_year": 2031, "cvc": cvc, **extra}


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


def spy_on(d: Deployment) -> str:
    """Trace every publish and delivery of the deployment's vhost into :data:`SPY`; the vhost."""
    vhost = urlsplit(d.env["CHATPAY_BROKER_URL"]).path.lstrip("/")
    conn = pika.BlockingConnection(pika.URLParameters(d.env["CHATPAY_BROKER_URL"]))
    channel = conn.channel()
    channel.queue_declare(SPY)
    channel.queue_bind(SPY, "amq.rabbitmq.trace", "#")
    conn.close()
    rabbitmqctl("trace_on", "-p", vhost)
    return vhost


def read_spy(d: Deployment) -> list[bytes]:
    """Every traced message: body, routing keys and properties (headers) as text."""
    conn = pika.BlockingConnection(pika.URLParameters(d.env["CHATPAY_BROKER_URL"]))
    channel = conn.channel()
    out = []
    while True:
        method, properties, body = channel.basic_get(SPY, auto_ack=True)
        if method is None:
            break
        out.append(body + repr(properties).encode())
    conn.close()
    return out


def database_dump(d: Deployment) -> dict[str, bytes]:
    url = d.env["CHATPAY_DATABASE_URL"]
    if url.startswith("sqlite:"):
        db = Path(url.removeprefix("sqlite:///"))
        files = sorted(db.parent.glob(db.name + "*"))
        assert db in files
        return {str(f): f.read_bytes() for f in files}
    dump = {}
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        assert len(tables) >= 5
        for (table,) in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            dump[f"table {table}"] = repr(rows).encode()
    return dump


def test_no_card_data_anywhere(deploy):
    d = deploy()
    vhost = spy_on(d)
    agent, customer = d.agent(), d.customer()
    seen: list[tuple[str, bytes]] = []
    try:
        for i, (typed, digits, _, cvc) in enumerate(CARDS):
            rid = agent.create(conversation_id=f"c-{i}")["id"]
            token = d.sink.token(rid)
            # Rejected submissions first: error bodies never echo what was sent.
            for bad in (card(typed, cvc, exp_year=2001), card(typed, "1"), card(typed, cvc, extra="x")):
                r = customer.post(f"/v1/pay/{token}/submit", json={"method": "card", "card": bad})
                assert r.status_code == 422, r.text
                seen.append((f"422 body {i}", r.content))
            r = customer.post(f"/v1/pay/{token}/submit", json={"method": "card", "card": card(typed, cvc)})
            assert r.status_code == 202, r.text
            agent.wait(rid, "submitted")
            r = customer.post(f"/v1/pay/{token}/submit", json={"method": "card", "card": card(typed, cvc)})
            assert r.status_code == 409
            seen.append((f"409 body {i}", r.content))
            # The card did travel: sealed, and opened only by the agent's device key.
            opened = agent.open_card(rid)
            assert (opened["number"], opened["cvc"], opened["name"]) == (digits, cvc, NAME)
            seen.append((f"card view {i}", agent.http.get(f"/v1/payment-requests/{rid}/card").content))
            seen.append((f"resource {i}", agent.http.get(f"/v1/payment-requests/{rid}").content))
            if i < 2:
                assert agent.action(rid, "complete" if i == 0 else "cancel").status_code == 202
                agent.wait(rid, "completed" if i == 0 else "canceled")
        seen.append(("metrics", d.customer().get("/metrics").content))
    finally:
        rabbitmqctl("trace_off", "-p", vhost)
    traced = read_spy(d)
    assert any(b"sealed_submission" in m for m in traced), "the firehose saw no card submission"
    assert any(b"card_sealed" in m for m in traced)
    for n, message in enumerate(traced):
        seen.append((f"RabbitMQ message {n}", message))
    for event in d.sink.attempts:
        seen.append((f"chat webhook {event['id']}", repr(event).encode()))
    seen += list(database_dump(d).items())
    d.stop()
    seen.append(("gateway and worker logs", d.logs().encode()))

    found = [hit for where, data in seen for hit in leaks(where, data)]
    assert found == []
    # The search itself works: the patterns find what they are meant to.
    sample = f'{{"number": "{CARDS[2][0]}", "name": "{NAME}", "cvc": "{CARDS[2][3]}"}}'.encode()
    assert len(leaks("sample", sample)) == 5


#: A gift card whose number and PIN occur nowhere by chance (the PIN is searched as a value).
GIFT = {"number": "QX-7730 5518 2264", "pin": "804417"}
GIFT_PATTERNS = [
    re.compile(rb"QX-?7730 ?5518 ?2264", re.I),
    re.compile(rb"""["']804417["']"""),
    re.compile(rb"pin\W{0,8}804417", re.I),
]


def test_no_card_data_over_200_flows(deploy):
    """200 concurrent flows of cards and gift cards: PAN, CVC, name and PIN appear nowhere."""
    from concurrent.futures import ThreadPoolExecutor

    d = deploy(worker_threads=8)
    vhost = spy_on(d)
    agent = d.agent()

    def flow(i: int) -> None:
        gift = i % 4 == 3
        rid = agent.create(conversation_id=f"c-flow-{i}", methods=["card", "gift_card"])["id"]
        token = d.sink.token(rid, timeout=60)
        typed, _, _, cvc = CARDS[i % 3]
        body = (
            {"method": "gift_card", "gift_card": GIFT}
            if gift
            else {"method": "card", "card": card(typed, cvc)}
        )
        with d.customer() as customer:
            assert customer.post(f"/v1/pay/{token}/submit", json=body).status_code == 202
        agent.wait(rid, "submitted", timeout=60)
        opened = agent.open_card(rid)
        assert opened.get("pin" if gift else "cvc") == (GIFT["pin"] if gift else cvc)
        assert agent.action(rid, "complete").status_code == 202

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(flow, range(200)))
    finally:
        rabbitmqctl("trace_off", "-p", vhost)
    seen = [(f"RabbitMQ message {n}", m) for n, m in enumerate(read_spy(d))]
    seen += [(f"chat webhook {e['id']}", repr(e).encode()) for e in d.sink.attempts]
    seen += list(database_dump(d).items())
    d.stop()
    seen.append(("gateway and worker logs", d.logs().encode()))
    found = [hit for where, data in seen for hit in leaks(where, data)]
    found += [f"{where}: {p.pattern!r}" for where, data in seen for p in GIFT_PATTERNS if p.search(data)]
    assert found == []
    assert sum(1 for where, _ in seen if where.startswith("RabbitMQ")) > 200 * 10
    sample = f'{{"number": "{GIFT["number"]}", "pin": "{GIFT["pin"]}"}}'.encode()
    assert all(p.search(sample) for p in GIFT_PATTERNS[:2])
