"""Card sealing with HPKE (RFC 9180, API.md §7): envelopes, vault keys, agent JWKs.

Errors never carry plaintext: opening failures raise :class:`SealingError` with a fixed sentence.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from schemas.cards import Envelope

#: The only suite in use: HPKE base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
SUITE = "P256-SHA256-AES256GCM"
#: Prefix of the HPKE ``info``; the request id follows, binding an envelope to its request.
INFO_PREFIX = b"chatpay card v1 "
#: Length of ``enc``, the ephemeral public key as an uncompressed P-256 point.
ENC_LEN = 65
#: Length of the AES-GCM tag that ends every ciphertext.
TAG_LEN = 16
#: Vault key file names inside the key directory.
VAULT_KEY, VAULT_PUB = "vault.key", "vault.pub"

_HPKE = hpke.Suite(hpke.KEM.P256, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_CURVE_BYTES = 32


class SealingError(Exception):
    """An envelope could not be opened; the message never contains card data."""


def card_info(request_id: str) -> bytes:
    """The HPKE ``info`` for a request's card."""
    return INFO_PREFIX + request_id.encode()


def b64url_encode(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding; raises ``ValueError`` on anything else."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None


def seal(plaintext: bytes, public_key: ec.EllipticCurvePublicKey, info: bytes) -> str:
    """Seal ``plaintext`` to ``public_key``: base64url of ``enc ‖ ciphertext``."""
    return b64url_encode(_HPKE.encrypt(plaintext, public_key, info))


def open_sealed(ct: str, private_key: ec.EllipticCurvePrivateKey, info: bytes) -> bytes:
    """Open what :func:`seal` made; :class:`SealingError` on bad encoding, tampering, wrong key or info."""
    try:
        data = b64url_decode(ct)
    except ValueError:
        raise SealingError("the sealed card is not valid base64url") from None
    if len(data) < ENC_LEN + TAG_LEN:
        raise SealingError("the sealed card is too short")
    try:
        return _HPKE.decrypt(data, private_key, info)
    except (InvalidTag, ValueError):
        raise SealingError(
            "the sealed card could not be opened (wrong key, wrong request or tampered)"
        ) from None


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """A short stable key id: ``v1-`` and 16 hex digits of SHA-256 over the SubjectPublicKeyInfo DER."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v1-" + hashlib.sha256(der).hexdigest()[:16]


def seal_envelope(plaintext: bytes, public_key: ec.EllipticCurvePublicKey, request_id: str) -> Envelope:
    """Seal a request's card plaintext to one key, named by :func:`key_id`."""
    return Envelope(
        kid=key_id(public_key), suite=SUITE, ct=seal(plaintext, public_key, card_info(request_id))
    )


def seal_card_for(
    public_keys: Mapping[str, ec.EllipticCurvePublicKey], plaintext: bytes, request_id: str
) -> list[Envelope]:
    """Seal a request's card plaintext to every key, one envelope each, named by the mapping's kid."""
    info = card_info(request_id)
    return [Envelope(kid=kid, suite=SUITE, ct=seal(plaintext, pk, info)) for kid, pk in public_keys.items()]


def open_envelope(
    envelope: Envelope,
    private_key: ec.EllipticCurvePrivateKey | Mapping[str, ec.EllipticCurvePrivateKey],
    request_id: str,
) -> dict[str, Any]:
    """Open an envelope and decode its plaintext JSON object.

    ``private_key`` is one key or several by kid (as from :func:`load_private_keys`, for key rotation).
    """
    if envelope.suite != SUITE:
        raise SealingError(f"unsupported suite {envelope.suite!r}")
    if isinstance(private_key, Mapping):
        if envelope.kid not in private_key:
            raise SealingError(f"no private key for kid {envelope.kid!r}")
        private_key = private_key[envelope.kid]
    plaintext = open_sealed(envelope.ct, private_key, card_info(request_id))
    try:
        card = msgspec.json.decode(plaintext)
    except msgspec.DecodeError:
        card = None
    if not isinstance(card, dict):
        raise SealingError("the sealed card is not a JSON object")
    return card


def _write_private(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to a file created with mode 0600 (never widened first, never chmod-ed after)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    target = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp") if overwrite else path
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if overwrite:
        os.replace(target, path)


def generate_vault_keys(out_dir: Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a new P-256 vault key pair: ``vault.key`` (PKCS8 PEM, 0600) and ``vault.pub`` (SPKI PEM).

    Refuses (``FileExistsError``) to replace an existing ``vault.key`` unless ``overwrite``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_path, pub_path = out_dir / VAULT_KEY, out_dir / VAULT_PUB
    if key_path.exists() and not overwrite:
        raise FileExistsError(f"{key_path} exists; refusing to overwrite a vault key")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(key_path, pem, overwrite=overwrite)
    pub_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_path, pub_path


def load_public_key(path: str | Path) -> ec.EllipticCurvePublicKey:
    """Load a P-256 public key from a PEM file."""
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        raise ValueError(f"{path} is not a P-256 public key")
    return key


def load_private_keys(paths: str) -> dict[str, ec.EllipticCurvePrivateKey]:
    """Load P-256 private keys from PEM files by kid.

    ``paths`` holds one or several paths separated by ``os.pathsep`` or commas: during a key rotation the
    old and the new key both open envelopes.
    """
    keys: dict[str, ec.EllipticCurvePrivateKey] = {}
    for part in re.split(f"[,{re.escape(os.pathsep)}]", paths):
        if part := part.strip():
            key = serialization.load_pem_private_key(Path(part).read_bytes(), password=None)
            if not (isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)):
                raise ValueError(f"{part} is not a P-256 private key")
            keys[key_id(key.public_key())] = key
    if not keys:
        raise ValueError("no private key path given")
    return keys


def _jwk_coordinate(jwk: Mapping[str, object], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise ValueError(f"JWK {name!r} must be a base64url string")
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise ValueError(f"JWK {name!r} is not base64url without padding") from None
    if len(raw) != _CURVE_BYTES:
        raise ValueError(f"JWK {name!r} must encode {_CURVE_BYTES} bytes")
    return int.from_bytes(raw, "big")


def jwk_to_public_key(jwk: Mapping[str, object]) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from a JWK ``{"kty": "EC", "crv": "P-256", "x", "y"}``.

    Raises ``ValueError`` for other key types or curves, bad coordinates, a point off the curve, or a
    JWK carrying private key material (``d``).
    """
    if "d" in jwk:
        raise ValueError("the JWK contains private key material ('d'); send only the public key")
    if jwk.get("kty") != "EC":
        raise ValueError("JWK 'kty' must be 'EC'")
    if jwk.get("crv") != "P-256":
        raise ValueError("JWK 'crv' must be 'P-256'")
    x, y = _jwk_coordinate(jwk, "x"), _jwk_coordinate(jwk, "y")
    try:
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError:
        raise ValueError("JWK 'x' and 'y' are not a point on P-256") from None


def public_key_to_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The public JWK of a P-256 key (``kty``, ``crv``, ``x``, ``y`` only)."""
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError("the key is not a P-256 key")
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(_CURVE_BYTES, "big")),
        "y": b64url_encode(numbers.y.to_bytes(_CURVE_BYTES, "big")),
    }
