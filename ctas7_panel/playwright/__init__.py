"""Playwright for Node suites: ``ctas7 playwright init`` and the JavaScript it installs.

``assets/`` holds what the scaffolder copies into a Playwright project (plain JavaScript, no
dependencies): ``reporter.cjs`` (test results to the bridge, live), ``client.cjs`` (its
websocket client, batching and spill file), ``index.cjs`` (``withCtas7(config)``: the reporter
and the ``CTAS7-SchemaAudit`` setup project), ``schema-audit.setup.cjs`` (``ctas7 audit`` as a
setup project) and ``playwright.config.ts`` (a complete config for a project that has none).
"""
