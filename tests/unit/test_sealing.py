"""HPKE card sealing (API.md §7)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chatpay import sealing
from chatpay.sealing import (
    SUITE,
    SealingError,
    b64url_decode,
    b64url_encode,
    card_info,
    generate_vault_keys,
    jwk_to_public_key,
    key_id,
    load_private_keys,
    load_public_key,
    open_envelope,
    open_sealed,
    public_key_to_jwk,
    seal,
    seal_card_for,
    seal_envelope,
)
from schemas.cards import Envelope

CARD = {"method": "card", "number": "4111111111111111", "name": "Ada", "exp_month": 12, "exp_year": 2029}
PLAINTEXT = msgspec.json.encode({**CARD, "cvc": "123"})


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def flip(ct: str, index: int) -> str:
    data = bytearray(b64url_decode(ct))
    data[index] ^= 1
    return b64url_encode(bytes(data))


def test_card_info() -> None:
    assert card_info("pr_1") == b"chatpay card v1 pr_1"


def test_round_trip_and_wire_format(key: ec.EllipticCurvePrivateKey) -> None:
    ct = seal(PLAINTEXT, key.public_key(), card_info("pr_1"))
    assert "=" not in ct and "+" not in ct and "/" not in ct
    raw = b64url_decode(ct)
    assert raw[0] == 4 and len(raw) == 65 + len(PLAINTEXT) + 16, "enc is the uncompressed point"
    assert open_sealed(ct, key, card_info("pr_1")) == PLAINTEXT
    assert seal(PLAINTEXT, key.public_key(), b"") != seal(PLAINTEXT, key.public_key(), b""), "fresh enc"


@pytest.mark.parametrize("index", [0, 1, 64, 65, -1])
def test_tampering_fails(key: ec.EllipticCurvePrivateKey, index: int) -> None:
    ct = seal(PLAINTEXT, key.public_key(), card_info("pr_1"))
    with pytest.raises(SealingError):
        open_sealed(flip(ct, index), key, card_info("pr_1"))


def test_wrong_info_or_key_fails(key: ec.EllipticCurvePrivateKey) -> None:
    ct = seal(PLAINTEXT, key.public_key(), card_info("pr_1"))
    with pytest.raises(SealingError) as info:
        open_sealed(ct, key, card_info("pr_2"))
    assert "4111" not in str(info.value) and info.value.__suppress_context__
    with pytest.raises(SealingError):
        open_sealed(ct, ec.generate_private_key(ec.SECP256R1()), card_info("pr_1"))


@pytest.mark.parametrize("ct", ["", "!!!!", "AAAA=", "AAAAA", "AAAA", "A" * 107])
def test_bad_encoding_fails(key: ec.EllipticCurvePrivateKey, ct: str) -> None:
    with pytest.raises(SealingError):
        open_sealed(ct, key, b"")


def test_envelope_shape(key: ec.EllipticCurvePrivateKey) -> None:
    envelope = seal_envelope(PLAINTEXT, key.public_key(), "pr_1")
    assert envelope.kid == key_id(key.public_key()) and envelope.suite == SUITE
    body = msgspec.json.decode(msgspec.json.encode(envelope))
    assert set(body) == {"kid", "suite", "ct"}
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"kid": "k", "suite": "s", "ct": "c", "x": 1}', type=Envelope)


def test_open_envelope(key: ec.EllipticCurvePrivateKey) -> None:
    envelope = seal_envelope(PLAINTEXT, key.public_key(), "pr_1")
    assert open_envelope(envelope, key, "pr_1") == {**CARD, "cvc": "123"}
    with pytest.raises(SealingError):
        open_envelope(envelope, key, "pr_2")
    with pytest.raises(SealingError, match="unsupported suite"):
        open_envelope(msgspec.structs.replace(envelope, suite="X25519"), key, "pr_1")
    with pytest.raises(SealingError, match="JSON object"):
        open_envelope(seal_envelope(b"[1]", key.public_key(), "pr_1"), key, "pr_1")
    with pytest.raises(SealingError, match="JSON object"):
        open_envelope(seal_envelope(b"\xff", key.public_key(), "pr_1"), key, "pr_1")


def test_seal_card_for_every_agent_key(key: ec.EllipticCurvePrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    envelopes = seal_card_for({"laptop": key.public_key(), "phone": other.public_key()}, PLAINTEXT, "pr_1")
    assert [e.kid for e in envelopes] == ["laptop", "phone"]
    assert open_envelope(envelopes[0], key, "pr_1")["cvc"] == "123"
    assert open_envelope(envelopes[1], {"phone": other}, "pr_1")["cvc"] == "123"
    assert seal_card_for({}, PLAINTEXT, "pr_1") == []


def test_key_id_is_stable(key: ec.EllipticCurvePrivateKey) -> None:
    kid = key_id(key.public_key())
    assert kid.startswith("v1-") and len(kid) == 19 and int(kid[3:], 16) >= 0
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    reloaded = serialization.load_pem_public_key(pem)
    assert isinstance(reloaded, ec.EllipticCurvePublicKey) and key_id(reloaded) == kid
    assert key_id(ec.generate_private_key(ec.SECP256R1()).public_key()) != kid


def test_generate_vault_keys_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_chmod(*args: object, **kwargs: object) -> None:
        raise AssertionError("the key file must be created 0600, not chmod-ed")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    old_umask = os.umask(0)
    try:
        key_path, pub_path = generate_vault_keys(tmp_path / "keys")
    finally:
        os.umask(old_umask)
    assert (key_path.name, pub_path.name) == ("vault.key", "vault.pub")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pub_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    keys = load_private_keys(str(key_path))
    assert list(keys) == [key_id(load_public_key(pub_path))]


def test_generate_vault_keys_refuses_overwrite(tmp_path: Path) -> None:
    key_path, pub_path = generate_vault_keys(tmp_path)
    before = key_path.read_bytes()
    with pytest.raises(FileExistsError):
        generate_vault_keys(tmp_path)
    assert key_path.read_bytes() == before
    generate_vault_keys(tmp_path, overwrite=True)
    assert key_path.read_bytes() != before
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vault.key", "vault.pub"]
    assert list(load_private_keys(str(key_path))) == [key_id(load_public_key(pub_path))]


@pytest.mark.parametrize("separator", [os.pathsep, ",", " , "])
def test_rotation_with_two_vault_keys(tmp_path: Path, separator: str) -> None:
    old_key, old_pub = generate_vault_keys(tmp_path / "old")
    new_key, new_pub = generate_vault_keys(tmp_path / "new")
    keys = load_private_keys(f"{old_key}{separator}{new_key}")
    assert set(keys) == {key_id(load_public_key(old_pub)), key_id(load_public_key(new_pub))}
    for pub in (old_pub, new_pub):
        envelope = seal_envelope(PLAINTEXT, load_public_key(pub), "pr_1")
        assert open_envelope(envelope, keys, "pr_1")["number"] == CARD["number"]
    stranger = seal_envelope(PLAINTEXT, ec.generate_private_key(ec.SECP256R1()).public_key(), "pr_1")
    with pytest.raises(SealingError, match="no private key"):
        open_envelope(stranger, keys, "pr_1")


def test_load_rejects_other_curves(tmp_path: Path) -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "p384.pub").write_bytes(
        other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "p384.key").write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValueError, match="P-256"):
        load_public_key(tmp_path / "p384.pub")
    with pytest.raises(ValueError, match="P-256"):
        load_private_keys(str(tmp_path / "p384.key"))
    with pytest.raises(ValueError, match="no private key"):
        load_private_keys(" , ")


def test_jwk_round_trip(key: ec.EllipticCurvePrivateKey) -> None:
    jwk = public_key_to_jwk(key.public_key())
    assert set(jwk) == {"kty", "crv", "x", "y"} and len(jwk["x"]) == 43
    assert jwk_to_public_key(jwk).public_numbers() == key.public_key().public_numbers()
    assert (
        jwk_to_public_key({**jwk, "ext": True, "key_ops": []}).public_numbers().x
        == key.public_key().public_numbers().x
    )


def test_jwk_rejections(key: ec.EllipticCurvePrivateKey) -> None:
    jwk: dict[str, object] = dict(public_key_to_jwk(key.public_key()))
    d = b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))
    one = b64url_encode((1).to_bytes(32, "big"))
    cases: list[tuple[dict[str, object], str]] = [
        ({**jwk, "d": d}, "private key material"),
        ({**jwk, "kty": "RSA"}, "kty"),
        ({k: v for k, v in jwk.items() if k != "kty"}, "kty"),
        ({**jwk, "crv": "P-384"}, "crv"),
        ({**jwk, "x": str(jwk["x"])[:-4]}, "32 bytes"),
        ({**jwk, "y": str(jwk["y"]) + "="}, "base64url"),
        ({**jwk, "x": 5}, "base64url string"),
        ({k: v for k, v in jwk.items() if k != "y"}, "base64url string"),
        ({**jwk, "x": one, "y": one}, "not a point on P-256"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            jwk_to_public_key(bad)
    with pytest.raises(ValueError, match="P-256"):
        public_key_to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key())


def test_suite_constant_documents_the_hpke_suite() -> None:
    assert SUITE == "P256-SHA256-AES256GCM"
    assert sealing.ENC_LEN == 65
