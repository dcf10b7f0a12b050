"""JSON in and out: size and media-type limits, typed decoding, the error body of API.md §2."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from schemas.errors import ErrorBody, ErrorDetail, FieldError

#: Largest request body accepted (bytes).
MAX_BODY = 64 * 1024

T = TypeVar("T")
_encoder = msgspec.json.Encoder()
_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_STATUS = {
    "invalid_request": 422,
    "unauthorized": 401,
    "not_found": 404,
    "conflict": 409,
    "gone": 410,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "unavailable": 503,
    "agent_key_required": 409,
    "bad_json": 400,
}


class ApiError(Exception):
    """An answer other than success; rendered as ``{"error": {...}}``."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: list[FieldError] | None = None,
        status: str | None = None,
        http_status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.fields, self.status = code, message, fields, status
        self.http_status = http_status or _STATUS[code]
        self.headers = headers


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encoder.encode(body), status_code=status, media_type="application/json", headers=headers)


def error_response(exc: ApiError) -> Response:
    code = "invalid_request" if exc.code == "bad_json" else exc.code
    body = ErrorBody(
        error=ErrorDetail(code=code, message=exc.message, fields=exc.fields or None, status=exc.status)
    )
    headers = {"cache-control": "no-store", **(exc.headers or {})}
    return json_response(body, exc.http_status, headers)


def not_found(what: str = "payment request") -> ApiError:
    return ApiError("not_found", f"No such {what}.")


async def read_json(request: Request, type_: type[T]) -> T:
    """Decode the body as ``type_`` or raise the matching 400/413/415/422."""
    require_json(request)
    body = await read_limited(request)
    return decode(body, type_)


def require_json(request: Request) -> None:
    """415 unless the body is declared ``application/json``."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError("unsupported_media_type", "Send the body as application/json.")


async def read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiError("payload_too_large", f"The body must be at most {MAX_BODY} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError("payload_too_large", f"The body must be at most {MAX_BODY} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def decode(body: bytes, type_: type[T]) -> T:
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        raise ApiError(
            "invalid_request", "The request body is invalid.", fields=[validation_field(str(exc))]
        ) from None
    except msgspec.DecodeError:
        raise ApiError("bad_json", "The request body is not valid JSON.", http_status=400) from None


def validation_field(text: str) -> FieldError:
    """msgspec's ``Expected `int`, got `str` - at `$.amount``` as a field error."""
    match = _PATH.match(text)
    msg, path = (match.group("msg"), match.group("path") or "") if match else (text, "")
    field = path.lstrip(".")
    code = "invalid"
    unknown = re.match(r"Object contains unknown field `([^`]*)`", msg)
    missing = re.match(r"Object missing required field `([^`]*)`", msg)
    if unknown:
        code, field = "unknown_field", _join(field, unknown.group(1))
    elif missing:
        code, field = "required", _join(field, missing.group(1))
    return FieldError(field=field or "body", code=code, message=msg)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
