"""The CTAS-7 MCP server: the live schema and the telemetry for AI agents (Model Context Protocol).

Modules (the SDK, ``mcp`` on PyPI, is imported only by ``server``, ``http``, ``runners``,
``embed`` and ``live``'s notifier, so ``ctas7 schema ...`` never loads it):

- ``budget``: every answer within 20,000 characters of JSON, pages and cursors (pure);
- ``views``: the schema and history as plain data (pure);
- ``access``: who may read and who may write (pure, the one place that decides);
- ``sources``: the live schema (probe-checked, cached, archived) and the telemetry (I/O);
- ``tools``: one function per tool, shared by tools and resources;
- ``live``: which resources an event touches, subscribers, the change feeds;
- ``server``: the ``MCPServer`` assembly (resources, tools, prompts, subscriptions);
- ``http``: streamable HTTP with DNS-rebinding protection and the token gate;
- ``runners`` / ``cli``: ``ctas7 mcp`` over stdio or ``--http``;
- ``embed``: ``/mcp`` inside ``ctas7 serve`` (a Tornado handler in front of the ASGI app).
"""
