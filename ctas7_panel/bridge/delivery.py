"""Pure pieces of delivery: the retry policy (exponential backoff with jitter) and de-duplication.

``RetryPolicy.delays(rng)`` is a pure generator of sleep times, ``ctas7_panel.backoff``'s:
attempt ``n`` (1-based) failed -> sleep ``min(max_delay, base * factor**(n-1))`` scaled down by
up to ``jitter`` (a fraction, random per attempt), until ``max_attempts`` attempts have been made
or ``max_elapsed`` seconds have passed since the first one; then the delivery is
dead-lettered with the reason and the attempt count. The sleeping loop lives in the bridge.

``RetryPolicy`` lives in ``ctas7_panel/backoff.py`` and ``SeenIds`` (de-duplication by
``event_id``) in ``streams/dedup.py``; both re-exported here.
"""

from __future__ import annotations

from ctas7_panel.backoff import RetryPolicy as RetryPolicy  # the one retry module
from ctas7_panel.streams.dedup import SeenIds as SeenIds  # moved down to the bus layer
