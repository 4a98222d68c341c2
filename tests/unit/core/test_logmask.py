"""No token in any log line: the masking itself and the record factory on real loggers."""

from __future__ import annotations

import io
import logging

import pytest

from ctas7_panel import logmask
from ctas7_panel.logmask import mask

SECRET = "logmask-secret-token-51f0a2"


@pytest.mark.parametrize(
    "line",
    [
        "< GET /telemetry_bridge?token={t} HTTP/1.1",
        "< GET /dioxus_events?x=1&token={t}&y=2 HTTP/1.1",
        "< Authorization: Bearer {t}",
        "> Authorization: Basic {t}",
        "headers: {{'Authorization': 'Bearer {t}'}}",
        "200 GET /app?access_token={t} (10.0.0.2) 3.1ms",
        "< Cookie: ctas7_session={t}; other=1",
        "something failed for {t}",
    ],
)
def test_credentials_are_masked(line: str) -> None:
    text = line.format(t=SECRET)
    masked = mask(text, [SECRET])
    assert SECRET not in masked and "***" in masked
    other = "another-clients-typo-7e2c"  # not a registered secret: the patterns catch it
    if "{t}" in line and "failed" not in line:
        assert other not in mask(line.format(t=other))


def test_text_without_credentials_is_unchanged() -> None:
    for text in ("gateway listening: {'dioxus_events': 8004}", "tokenizer ready", "basically"):
        assert mask(text, [SECRET]) == text


def test_every_logger_and_handler_gets_masked_records() -> None:
    """Records of third-party loggers, args merged, exceptions and handlers added later."""
    logmask.protect(SECRET)
    assert SECRET in logmask.registered()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # added after protect(): still masked
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    loggers = [logging.getLogger(n) for n in ("websockets.server", "tornado.access", "ctas7.x")]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
        lg.propagate = False
    try:
        loggers[0].debug("< %s: %s", "Authorization", f"Bearer {SECRET}")
        loggers[0].debug("< GET %s HTTP/1.1", f"/schema_events?token={SECRET}")
        loggers[1].info("%d %s %s", 200, "GET", f"/app?token={SECRET}")
        try:
            raise ValueError(f"bad credentials {SECRET}")
        except ValueError:
            loggers[2].exception("failed")
        adapter = logging.LoggerAdapter(loggers[0], {"websocket": None})
        adapter.debug("> %s: %s", "Authorization", f"Bearer {SECRET}")
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
            lg.propagate = True
            lg.setLevel(logging.NOTSET)
    out = stream.getvalue()
    assert SECRET not in out
    assert out.count("***") == 5  # every line was there, masked
    assert "ValueError: bad credentials ***" in out  # the traceback kept, masked
