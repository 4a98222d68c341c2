"""The MCP server over streamable HTTP: the SDK's app behind the token check.

``http_app(server, access, bind)`` is the ASGI app serving ``/mcp``:

- bound to loopback (the default), the SDK's DNS-rebinding protection is on: a request whose
  ``Host`` (or ``Origin``) is not ``127.0.0.1``/``localhost``/``[::1]`` is refused (421/403), so a
  web page cannot reach the server through a rebound name;
- when ``CTAS7_TOKEN`` is set (always, off loopback: ``Settings`` refuses another bind without
  it), every request needs ``Authorization: Bearer <token>`` (or the admin token): 401 otherwise,
  as at the websocket gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ctas7_panel.mcp.access import Access
from ctas7_panel.settings import is_loopback

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from starlette.types import ASGIApp, Receive, Scope, Send

PATH = "/mcp"
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


class TokenGate:
    """ASGI middleware: refuse HTTP requests without the token (``Access.role`` is None)."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            if self.access.role(headers) is None:
                body = b'{"error": "missing or wrong token: send Authorization: Bearer <token>"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="ctas7"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_app(server: MCPServer[Any], access: Access, bind: str) -> Any:
    """The ASGI app (its lifespan runs the SDK's session manager)."""
    from mcp.server.transport_security import TransportSecuritySettings

    if is_loopback(bind):
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=LOOPBACK_HOSTS,
            allowed_origins=LOOPBACK_ORIGINS,
        )
    else:  # reachable by name from elsewhere: the token guards it
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(
        streamable_http_path=PATH, transport_security=security, host=bind
    )
    return TokenGate(app, access)


__all__ = ["PATH", "TokenGate", "http_app"]
