"""No token in any log line: credentials are masked in every log record, whoever logs it.

``mask(text, secrets)`` is the pure part. It replaces

- every registered secret (the configured tokens), wherever it appears;
- the value of ``token=``/``access_token=`` query parameters;
- the credential of ``Authorization: Bearer|Basic ...`` (a header line or ``repr`` of headers);
- the value of ``Cookie:``/``Set-Cookie:`` header lines (the dashboard cookie is a credential);

with ``***``. The patterns also catch a token that is not ours (a client's typo of the real one).

``protect(*secrets)`` registers secrets and installs, once per process, a log record factory
(``logging.setLogRecordFactory``) that masks each record as it is made: its message (with its
arguments merged in), its exception text and its stack text. A record factory, unlike a filter,
sees the records of every logger and reaches every handler, including third-party ones
(``websockets.server`` logs request lines and headers at DEBUG, tornado logs request URLs) and
handlers added later (pytest's capture).
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterable
from typing import Any

MASK = "***"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b((?:access_)?token=)[^&\s#'\"]+"), r"\1" + MASK),
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:,=]\s*['\"]?\s*(?:bearer|basic)\s+)[^\s'\",]+"),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)(\b(?:set-)?cookie['\"]?\s*[:,=]\s*['\"]?)[^'\"\r\n]+"), r"\1" + MASK),
)
_QUICK = re.compile(r"(?i)token|bearer|basic|cookie")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first: a secret containing another is masked whole
_installed = False


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret and credential-shaped value replaced by ``***``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    if _QUICK.search(text) is None:
        return text
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def protect(*secrets: str) -> None:
    """Mask ``secrets`` (and credential patterns) in every log record from now on."""
    global _secrets
    with _lock:
        known = set(_secrets) | {s for s in secrets if s}
        _secrets = tuple(sorted(known, key=len, reverse=True))
        _install()


def registered() -> frozenset[str]:
    """The secrets masked so far (tests)."""
    return frozenset(_secrets)


def _install() -> None:
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        mask_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def mask_record(record: logging.LogRecord) -> None:
    """Mask one record in place (message merged with its args, exception and stack text)."""
    secrets = _secrets
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: leave it to logging's own error report
        return
    masked = mask(message, secrets)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        masked = mask(text, secrets)
        if masked != text:
            record.exc_text = masked
    if record.stack_info:
        record.stack_info = mask(record.stack_info, secrets)
