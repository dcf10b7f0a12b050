"""The vault actor: the only holder of the vault private key.

Opens the gateway's envelope, checks the card again, re-seals it to every card key the requesting
agent registered, and hands the lifecycle only ciphertext and the masked card. The plaintext
lives in this function's locals and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging

import msgspec

from actors.deps import Deps
from chatpay import cards, sealing
from chatpay.errors import ChatpayError, ConfigError
from chatpay.store import repo
from schemas.messages import CardSealed, MaskedCard, SealedSubmission

log = logging.getLogger("chatpay.vault")


class VaultRejected(ChatpayError):
    """The submission cannot be sealed (wrong key, tampered, invalid card); dead-lettered."""


class _CardPlain(msgspec.Struct, forbid_unknown_fields=True, tag_field="method", tag="card"):
    number: str
    name: str
    exp_month: int
    exp_year: int
    cvc: str


class _GiftPlain(msgspec.Struct, forbid_unknown_fields=True, tag_field="method", tag="gift_card"):
    number: str
    pin: str


_plain = msgspec.json.Decoder(_CardPlain | _GiftPlain)


@functools.lru_cache(maxsize=4)
def _private_keys(paths: str | None) -> dict[str, object]:
    if not paths:
        raise ConfigError("the vault needs CHATPAY_VAULT_PRIVATE_KEY")
    return dict(sealing.load_private_keys(paths))


def handle(cmd: SealedSubmission, deps: Deps) -> None:
    keys = _private_keys(deps.settings.vault_private_key)
    key = keys.get(cmd.envelope.kid)
    if key is None:
        raise VaultRejected(f"no vault key {cmd.envelope.kid!r} for {cmd.request_id}")
    info = sealing.card_info(cmd.request_id)
    try:
        plaintext = sealing.open_sealed(cmd.envelope.ct, key, info)  # type: ignore[arg-type]
        card = _plain.decode(plaintext)
    except (sealing.SealingError, msgspec.DecodeError):
        raise VaultRejected(f"submission for {cmd.request_id} does not open") from None
    masked = _check(card, cmd.request_id)
    with deps.store.read() as tx:
        request = repo.get_request(tx, cmd.request_id)
        agent_keys = repo.agent_keys(tx, request["agent_id"]) if request else []
    if request is None or not agent_keys:
        log.warning(
            "submission for %s dropped: %s",
            cmd.request_id,
            "unknown request" if request is None else "the agent has no card key",
        )
        return
    public_keys = {row["kid"]: sealing.jwk_to_public_key(json.loads(row["jwk"])) for row in agent_keys}
    envelopes = sealing.seal_card_for(public_keys, plaintext, cmd.request_id)
    del plaintext, card
    deps.emit(
        CardSealed(
            command_id=f"vault:{cmd.command_id}", request_id=cmd.request_id, card=masked, envelopes=envelopes
        )
    )


def _check(card: _CardPlain | _GiftPlain, request_id: str) -> MaskedCard:
    """Validate again behind the gateway; the masked view of a valid card."""
    if isinstance(card, _GiftPlain):
        number = cards.normalize_number(card.number)
        problems = cards.validate_gift_card(card.number, card.pin)
        masked = MaskedCard(method="gift_card", last4=number[-4:])
    else:
        number = cards.normalize_number(card.number)
        problems = cards.validate_card(
            card.number,
            card.name,
            card.exp_month,
            card.exp_year,
            card.cvc,
            today=dt.datetime.now(dt.UTC).date(),
        )
        masked = MaskedCard(
            method="card",
            last4=number[-4:],
            brand=cards.card_brand(number),
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )
    if problems:
        raise VaultRejected(
            f"submission for {request_id} fails validation: "
            + ", ".join(f"{p.field}:{p.code}" for p in problems)
        )
    return masked
