"""Logs never hold a full phone number, payment link or secret token.

``install()`` wraps the log record factory of the process, so every record of every logger
(ours, Rasa's, Sanic's) is masked once its message is formatted: phone numbers keep their first
5 and last 4 digits (``62812****7890``), payment and receipt links and bearer tokens are cut.
Code should still not log names or numbers on purpose; this is the net under it.
"""
from __future__ import annotations

import logging
import re
from typing import Any

# 9 to 15 digits (E.164 without "+"), not part of a longer run of digits or of a word.
_PHONE = re.compile(r"(?<![\w])(\+?)(\d{5})(\d{0,6})(\d{4})(?![\w])")
_SECRET_URL = re.compile(
    r"(https?://(?:[^/\s]*xendit\.co/|\S*?/(?:web|receipts|invoices?|flows?)/))[^\s'\"<>)]+",
    re.IGNORECASE)
# name=value / "name": "value" where the name ends in token, secret, key or password
_NAMED = re.compile(r"(?i)\b(\w*(?:token|secret|key|password))([\"']?\s*[:=]\s*[\"']?)"
                    r"([^\s\"',;&]{6,})")
_AUTH = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=\-]{6,})")
_XENDIT_KEY = re.compile(r"\bxnd_\w+")


def mask_phone(number: Any) -> str:
    """``62812****7890`` for ``6281234567890``; short or odd values as ``***``."""
    text = str(number or "")
    if len(text) < 9 or not text.isdigit():
        return "***" if text else ""
    return f"{text[:5]}{'*' * (len(text) - 9)}{text[-4:]}"


def mask(text: str) -> str:
    """``text`` with phone numbers, secret links and tokens masked."""
    text = _PHONE.sub(lambda m: f"{m[1]}{m[2]}{'*' * len(m[3])}{m[4]}", text)
    text = _SECRET_URL.sub(lambda m: m[1] + "…", text)
    text = _XENDIT_KEY.sub("xnd_…", text)
    text = _AUTH.sub(lambda m: f"{m[1]}{m[2]}{m[3][:2]}…", text)
    return _NAMED.sub(lambda m: f"{m[1]}{m[2]}{m[3][:2]}…", text)


class _MaskedRecord(logging.LogRecord):
    def getMessage(self) -> str:  # noqa: N802 (logging's name)
        return mask(super().getMessage())


def install() -> None:
    """Mask every log record of this process from now on, tracebacks included (idempotent)."""
    if logging.getLogRecordFactory() is _factory:
        return
    global _previous
    _previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_factory)
    if not getattr(logging.Formatter.formatException, "masked", False):
        plain = logging.Formatter.formatException

        def format_exception(self: logging.Formatter, exc_info: Any) -> str:
            return mask(plain(self, exc_info))

        format_exception.masked = True  # type: ignore[attr-defined]
        logging.Formatter.formatException = format_exception  # type: ignore[method-assign]


_previous = logging.getLogRecordFactory()


def _factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _previous(*args, **kwargs)
    record.__class__ = _MaskedRecord if type(record) is logging.LogRecord else record.__class__
    return record
