"""State machine, money, ids, wire format, settings and error mapping."""

from __future__ import annotations

import dramatiq
import msgspec
import pytest

from chatpay import config, ids, messaging
from chatpay.errors import ConfigError
from chatpay.money import EXPONENT, display_amount, is_currency
from gateway.http import validation_field
from schemas import messages as m
from schemas.status import ACTIVE, EXPIRABLE, FINAL, LABELS, TRANSITIONS, Status, can_move, sources_of


def test_state_machine_is_the_contract():
    allowed = {(a.value, b.value) for a, nxt in TRANSITIONS.items() for b in nxt}
    assert allowed == {
        ("sending", "waiting_for_customer"),
        ("sending", "failed"),
        ("sending", "expired"),
        ("sending", "canceled"),
        ("failed", "sending"),
        ("failed", "canceled"),
        ("failed", "expired"),
        ("waiting_for_customer", "submitted"),
        ("waiting_for_customer", "declined"),
        ("waiting_for_customer", "expired"),
        ("waiting_for_customer", "canceled"),
        ("submitted", "completed"),
        ("submitted", "canceled"),
    }
    assert {s.value for s in FINAL} == {"completed", "declined", "expired", "canceled"}
    assert set(Status) == ACTIVE | FINAL
    assert {Status.SENDING, Status.WAITING_FOR_CUSTOMER, Status.FAILED} == EXPIRABLE
    assert LABELS[Status.SUBMITTED] == "VIEW CARD" and LABELS[Status.FAILED] == "TRY AGAIN"
    assert not can_move(Status.COMPLETED, Status.CANCELED)
    assert set(sources_of(Status.CANCELED)) == {
        Status.SENDING,
        Status.FAILED,
        Status.WAITING_FOR_CUSTOMER,
        Status.SUBMITTED,
    }


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1999, "USD", "$19.99"),
        (5, "EUR", "€0.05"),
        (1234567, "JPY", "¥1,234,567"),
        (1500, "KWD", "1.500 KWD"),
        (100000, "CHF", "1,000.00 CHF"),
    ],
)
def test_display_amount_uses_minor_units(amount, currency, shown):
    assert display_amount(amount, currency) == shown


def test_currencies():
    assert is_currency("USD") and not is_currency("XXX") and EXPONENT["JPY"] == 0 and EXPONENT["KWD"] == 3


def test_ids():
    assert ids.request_id_for_key("a-7", "k") == ids.request_id_for_key("a-7", "k")
    assert ids.request_id_for_key("a-7", "k") != ids.request_id_for_key("a-8", "k")
    assert ids.request_id_for_event("e1") != ids.request_id_for_key("a-7", "e1")
    assert len(ids.new_request_id()) == 29 and ids.new_request_id().startswith("pr_")
    token = ids.new_token()
    assert (
        len(token) >= 43
        and ids.token_hash(token) != token
        and len({ids.new_token() for _ in range(100)}) == 100
    )


def test_wire_format_round_trip_through_dramatiq():
    dramatiq.set_encoder(messaging.MsgspecEncoder())
    cmd = m.CancelRequest(command_id="c1", request_id="pr_1", agent_id="a-7")
    queue, message_id, body = messaging.wire_bytes(cmd)
    assert queue == "chatpay.lifecycle"
    decoded = dramatiq.Message.decode(body)
    assert decoded.actor_name == "lifecycle" and decoded.message_id == message_id
    typed = msgspec.json.decode(bytes(decoded.args[0]), type=m.LifecycleCommand)
    assert typed == cmd
    assert "pr_1" not in str(decoded)  # logged messages show opaque arguments


def test_undecodable_envelope_error_never_echoes_the_body():
    with pytest.raises(ValueError) as err:
        messaging.MsgspecEncoder().decode(b'{"card": "4111111111111111"')
    assert "4111" not in str(err.value)


def test_settings_require_secrets_and_check_ranges():
    with pytest.raises(ConfigError, match="CHATPAY_AGENT_JWT_SECRET"):
        config.load({})
    base = {
        "CHATPAY_CHAT_INBOUND_SECRET": "whsec_a",
        "CHATPAY_CHAT_OUTBOUND_SECRET": "whsec_b",
        "CHATPAY_AGENT_JWT_SECRET": "s",
    }
    settings = config.load(base)
    assert settings.embedded and settings.request_ttl == 1800 and settings.delivery_attempts == 6
    with pytest.raises(ConfigError, match="CHATPAY_REQUEST_TTL"):
        config.load(base | {"CHATPAY_REQUEST_TTL": "5"})
    with pytest.raises(ConfigError):
        config.load(base | {"CHATPAY_QUEUE_TYPE": "stream"})


def test_embedded_environment_generates_and_keeps_secrets(tmp_path):
    env = config.embedded_environment(tmp_path, {})
    again = config.embedded_environment(tmp_path, {})
    assert env["CHATPAY_AGENT_JWT_SECRET"] == again["CHATPAY_AGENT_JWT_SECRET"]
    assert env["CHATPAY_CHAT_INBOUND_SECRET"].startswith("whsec_")
    assert (tmp_path / "vault.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "chatpay_agent_jwt_secret").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("text", "field", "code"),
    [
        ("Expected `int`, got `str` - at `$.amount`", "amount", "invalid"),
        ("Object contains unknown field `foo`", "foo", "unknown_field"),
        ("Object missing required field `cvc` - at `$.card`", "card.cvc", "required"),
        ("Expected `str` of length <= 200 - at `$.events[3].reason`", "events[3].reason", "invalid"),
    ],
)
def test_validation_errors_name_the_field(text, field, code):
    error = validation_field(text)
    assert (error.field, error.code) == (field, code)


def test_a_retry_that_cannot_be_enqueued_dead_letters_the_message(monkeypatch):
    from dramatiq.broker import MessageProxy
    from dramatiq.errors import ConnectionClosed

    from chatpay.broker import DeadLetterOnFailedRetry, make_broker

    settings = config.load(
        {
            "CHATPAY_CHAT_INBOUND_SECRET": "whsec_a",
            "CHATPAY_CHAT_OUTBOUND_SECRET": "whsec_b",
            "CHATPAY_AGENT_JWT_SECRET": "s",
        }
    )
    broker = make_broker(settings)
    retries = next(mw for mw in broker.middleware if isinstance(mw, DeadLetterOnFailedRetry))

    @dramatiq.actor(broker=broker, actor_name="flaky", queue_name="flaky", max_retries=3)
    def flaky() -> None: ...

    def refuse(*args, **kwargs):
        raise ConnectionClosed(OSError("broker gone"))

    monkeypatch.setattr(broker, "enqueue", refuse)
    proxy = MessageProxy(flaky.message())
    with pytest.raises(ConnectionClosed):
        retries.after_process_message(broker, proxy, exception=RuntimeError("transient"))
    assert proxy.failed
