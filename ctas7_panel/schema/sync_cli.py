"""``ctas7 schema sync|watch|install-trigger`` (filled in by the Schema Sync issue)."""

from __future__ import annotations

import argparse


def register(schema_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sync subcommands to the ``ctas7 schema`` group."""
