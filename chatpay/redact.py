"""A last line of defence for logs: anything shaped like a card number is masked.

Card data never reaches a log by design (only ciphertext travels, messages log as opaque bytes);
this filter makes an accident visible as ``[PAN REDACTED]`` instead of leaking it.
"""

from __future__ import annotations

import logging
import re

from chatpay.cards import luhn_ok

#: 13 to 19 digits, optionally grouped by single spaces or dashes.
_CANDIDATE = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")


def redact(text: str) -> str:
    """``text`` with every Luhn-valid 13 to 19 digit run replaced."""

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group(0))
        return "[PAN REDACTED]" if luhn_ok(digits) else match.group(0)

    return _CANDIDATE.sub(mask, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and formatted traceback) before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
        return True
