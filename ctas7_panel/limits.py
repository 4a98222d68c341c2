"""The size limit of one event, defined once: the envelope (``events.py``) checks it at the edge,
``Settings`` takes it as the default of ``CTAS7_MAX_EVENT_BYTES``. Its own module so that
reading the settings does not import the envelope's machinery (one-shot commands such as
``ctas7 schema typegen`` start faster)."""

from __future__ import annotations

DEFAULT_MAX_EVENT_BYTES = 256 * 1024
