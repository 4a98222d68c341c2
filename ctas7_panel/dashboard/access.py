"""The dashboard's gate: every session is decided before anything of the dashboard is built.

``guarded_app(settings, environ)`` is what ``ctas7_panel/app.py`` (``panel serve``) and
``ctas7 serve`` serve. It reads the session's request (client address, ``Authorization:
Bearer``, the ``ctas7_session`` cookie, Panel's own login) and asks
``ctas7_panel.access.dashboard_access``; an allowed session gets the dashboard (the replay button
only with admin rights), a refused one a small page instead, and the process's runtime is not
started for it:

- tokens configured, no credential: a sign-in page. The token typed there is checked on the
  server; when it is right, the browser gets the ``ctas7_session`` cookie (an HMAC of the token,
  not the token) and reloads;
- no token configured and a client not on this machine: a page saying how to configure access
  (``CTAS7_TOKEN``, or ``panel serve --basic-auth`` / ``--oauth-provider``).

The decision is made in the session, so it holds for a session created by the page request
and for one created by a websocket alike (Bokeh creates a session for an unknown session id).
Outside a server session (a notebook, a script) the dashboard is built with admin rights.
"""

# param types widget values as Optional; narrowed to this module.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import panel as pn

from ctas7_panel.access import (
    COOKIE_NAME,
    Access,
    Refusal,
    Role,
    Tokens,
    bearer,
    dashboard_access,
    session_cookie,
)
from ctas7_panel.settings import Settings

log = logging.getLogger(__name__)

_SET_COOKIE_JS = f"""
if (cb_obj.value) {{
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie = "{COOKIE_NAME}=" + cb_obj.value + "; path=/; SameSite=Strict" + secure;
  window.location.reload();
}}
"""


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value if isinstance(value, str) else str(value[0]) if value else None
    return None


def session_access(tokens: Tokens) -> tuple[Access, str | None]:
    """This session's decision and its client address (None outside a server session)."""
    doc = pn.state.curdoc
    context = getattr(doc, "session_context", None) if doc is not None else None
    request = getattr(context, "request", None) if context is not None else None
    if request is None:  # a notebook or a script: the local user
        return Access(Role.ADMIN, "local"), None
    client = getattr(request, "remote_ip", None)
    cookies = getattr(request, "cookies", None) or {}
    decision = dashboard_access(
        tokens,
        client=client,
        bearer_token=bearer(_header(getattr(request, "headers", None) or {}, "Authorization")),
        cookie=cookies.get(COOKIE_NAME),
        panel_user=pn.state.user,
    )
    return decision, client


def guarded_app(settings: Settings, environ: Mapping[str, str] | None = None) -> Any:
    """The dashboard for an allowed session (a template), the sign-in or refusal page otherwise
    (a column): something to ``.servable()``."""
    decision, client = session_access(settings.tokens)
    if decision.allowed:
        log.info(
            "dashboard: session from %s allowed (%s, %s)",
            client or "local",
            decision.role.name.lower(),
            decision.via,
        )
        from ctas7_panel.dashboard.app import create_app

        return create_app(settings, environ, admin=decision.admin)
    assert decision.refusal is not None
    log.warning("dashboard: session from %s refused: no credentials", client)
    return SignInPage(settings.tokens, decision.refusal, client).page()


class SignInPage:
    """The page of a refused session: a token form (tokens configured) or how to configure."""

    def __init__(self, tokens: Tokens, refusal: Refusal, client: str | None) -> None:
        self.tokens = tokens
        self.refusal = refusal
        self.client = client
        self.failures = 0
        self.token = pn.widgets.PasswordInput(
            label="Token", placeholder="CTAS7_TOKEN or CTAS7_ADMIN_TOKEN", width=360
        )
        self.submit = pn.widgets.Button(label="Sign in", color="primary", width=120)
        self.message = pn.pane.HTML("", css_classes=["ctas7-signin-message"])
        self.cookie = pn.widgets.TextInput(value="", visible=False)  # carries the cookie value
        self.cookie.jscallback(value=_SET_COOKIE_JS)
        self.submit.on_click(self._sign_in)
        self.token.param.watch(self._sign_in, "value")  # Enter (or leaving the field)

    def _sign_in(self, event: Any = None) -> None:
        given = (self.token.value_input or self.token.value or "").strip()
        if not given:  # nothing typed, or the field was just cleared
            return
        self.token.param.update(value="", value_input="")
        role = self.tokens.role_for(given)
        if role is Role.NONE:
            self.failures += 1
            log.warning("dashboard: wrong token from %s (attempt %d)", self.client, self.failures)
            self.message.object = (
                f"<span data-signin='wrong' data-attempt='{self.failures}'>That is not a valid "
                "token.</span>"
            )
            return
        token = self.tokens.admin if role is Role.ADMIN else self.tokens.read
        self.message.object = "<span data-signin='ok'>Signed in, loading…</span>"
        self.cookie.value = session_cookie(token) or ""

    def page(self) -> pn.viewable.Viewable:
        if self.refusal is Refusal.LOGIN:
            body: list[Any] = [
                pn.pane.HTML(
                    "<p data-access='login'>This dashboard needs a token. Enter "
                    "<code>CTAS7_TOKEN</code> (read) or <code>CTAS7_ADMIN_TOKEN</code> (read and "
                    "replay); scripts may send <code>Authorization: Bearer &lt;token&gt;</code>."
                    "</p>"
                ),
                pn.Row(self.token, self.submit),
                self.message,
                self.cookie,
            ]
        else:
            body = [
                pn.pane.HTML(
                    "<p data-access='refused'>This dashboard is not reachable from other "
                    "machines without access control. On the server, set "
                    "<code>CTAS7_TOKEN</code> (and <code>CTAS7_ADMIN_TOKEN</code> for replay), "
                    "or run <code>panel serve</code> with <code>--basic-auth</code> or "
                    "<code>--oauth-provider</code>. See docs/security.md.</p>"
                )
            ]
        return pn.Column(
            pn.pane.HTML("<h2>CTAS-7 Telemetry</h2>"), *body, styles={"padding": "24px"}
        )
