"""The fan-out adapter (``streams/fanout.py``) on the installed websockets: the version is in
the tested range and every internal the adapter relies on is where it expects it."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import websockets
from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, State

from ctas7_panel.streams import fanout

ROOT = Path(__file__).resolve().parents[3]


def test_the_installed_websockets_is_in_the_tested_range() -> None:
    assert fanout.version_tested(websockets.__version__), websockets.__version__
    assert fanout.version_tested("13.0") and fanout.version_tested("17.9")
    assert not fanout.version_tested("12.9") and not fanout.version_tested("18.0")


def test_pyproject_pins_websockets_to_the_tested_range() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d.replace(" ", "") for d in deps if d.startswith("websockets")]
    (low, _), (high, _) = fanout.TESTED
    assert f">={low}" in pin and f"<{high}" in pin, pin


def test_the_internals_the_adapter_uses_are_there() -> None:
    for name in ("transport", "protocol", "send_data", "send_in_progress"):
        assert (
            name in dir(ServerConnection)
            or name in inspect.signature(ServerConnection.__init__).parameters
            or _instance_attribute(ServerConnection, name)
        ), name
    for name in ("state", "extensions", "send_text"):
        assert hasattr(Protocol, name) or _instance_attribute(Protocol, name), name
    assert State.OPEN
    frame = Frame(Opcode.TEXT, b'{"a":1}').serialize(mask=False)
    assert frame == b"\x81\x07" + b'{"a":1}'
    assert fanout.encode([b"x", b"yz"]) == b"\x81\x01x\x81\x02yz"


def _instance_attribute(cls: type, name: str) -> bool:
    """``name`` is assigned as ``self.<name>`` in the class or one of its bases."""
    for klass in cls.__mro__:
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if f"self.{name} =" in source or f"self.{name}:" in source:
            return True
    return False
