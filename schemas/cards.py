"""Sealed card data (API.md §7): the envelope shared by HTTP bodies and messages."""

from __future__ import annotations

import msgspec


class Envelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Card data sealed with HPKE to one key.

    ``kid`` names the recipient key, ``suite`` the HPKE suite (``P256-SHA256-AES256GCM``) and ``ct`` is
    base64url without padding of ``enc ‖ ciphertext``.
    """

    kid: str
    suite: str
    ct: str
