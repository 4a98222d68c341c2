"""The dashboard's gate in-process: the replay button only for admin (and the server ignores a
replay request from a read session), the sign-in page's token check and cookie."""

from __future__ import annotations

from pathlib import Path

import panel as pn
from bokeh.document import Document

from ctas7_panel.access import Refusal, Tokens, session_cookie
from ctas7_panel.dashboard.access import SignInPage, guarded_app
from ctas7_panel.dashboard.app import Dashboard
from ctas7_panel.dashboard.hub import Hub
from ctas7_panel.settings import Settings
from ctas7_panel.streams.bus import MemoryBus

READ = "gate-read-token-1a2b3c4d"
ADMIN = "gate-admin-token-5e6f7a8b"


def _replay_buttons(viewable: object) -> int:
    from panel.models.reactive_html import ReactiveHTML

    root = pn.panel(viewable).get_root(Document())
    return sum(
        1
        for m in root.references()
        if isinstance(m, ReactiveHTML) and getattr(m.data, "action", "") == "replay-dead-letters"
    )


async def test_a_read_session_has_no_replay_button_and_cannot_trigger_one(
    tmp_path: Path,
) -> None:
    calls: list[int] = []

    async def replay() -> int:
        calls.append(1)
        return 0

    hub = Hub(MemoryBus(), None, Settings(hash_cache_path=str(tmp_path / "h")), replay=replay)
    admin, reader = Dashboard(hub), Dashboard(hub, can_replay=False)
    assert _replay_buttons(admin.bridge_view) == 1
    assert _replay_buttons(reader.bridge_view) == 0
    reader.bridge_view.button.clicks += 1  # a crafted client message for a model it never got
    assert reader.state.bridge.replay_requests == 0  # type: ignore[union-attr]
    await reader._on_replay(None)  # even if the request reached the dashboard
    assert calls == []
    await admin._on_replay(None)
    assert calls == [1]


def test_outside_a_server_session_the_dashboard_is_built_with_admin_rights(
    tmp_path: Path,
) -> None:
    settings = Settings(hash_cache_path=str(tmp_path / "h"), token=READ, admin_token=ADMIN)
    page = guarded_app(settings, {"CTAS7_DEV_INGEST_PORT": ""})
    from ctas7_panel.dashboard.views.bridge import ActionButton

    # the dashboard page (not the sign-in page), with the admin's replay button
    assert page.select(ActionButton) and not page.select(pn.widgets.PasswordInput)


def test_the_sign_in_page_checks_the_token_and_hands_out_the_cookie() -> None:
    page = SignInPage(Tokens(READ, ADMIN), Refusal.LOGIN, "10.0.0.2")
    page.token.value = "wrong-but-long-enough-token"  # Enter: the value watcher signs in
    assert page.failures == 1 and "data-signin='wrong'" in str(page.message.object)
    assert page.cookie.value == "" and page.token.value == ""
    page.token.value_input = READ
    page.submit.clicks += 1
    assert page.cookie.value == session_cookie(READ) and page.failures == 1
    assert READ not in page.cookie.value
    page.token.value = ADMIN
    assert page.cookie.value == session_cookie(ADMIN)
    refused = SignInPage(Tokens(), Refusal.REMOTE, "10.0.0.2").page()
    html = "".join(str(getattr(o, "object", "")) for o in refused.select(pn.pane.HTML))
    assert "data-access='refused'" in html and "--basic-auth" in html
    assert not refused.select(pn.widgets.PasswordInput)
