"""Error bodies of the public API (API.md §2)."""

from __future__ import annotations

import msgspec


class FieldError(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One field at fault: ``field`` is a dotted path such as ``card.number``."""

    field: str
    code: str
    message: str


class ErrorDetail(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    code: str
    message: str
    fields: list[FieldError] | None = None
    status: str | None = None


class ErrorBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    error: ErrorDetail
