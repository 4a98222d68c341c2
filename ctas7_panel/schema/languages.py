"""The languages ``supabase gen types`` speaks, and one entry point for all of them.

``generate(language, catalog, options)`` returns what ``supabase gen types --lang <language>``
prints for the catalog; ``render`` also returns the places the output deliberately differs
from the reference's (Python and Go, where the reference crashes or prints invalid code).
Python, Go and Swift need the type list: introspect with ``type_list=needs_type_list(lang)``.
Generator modules are imported on first use, so importing this one stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ctas7_panel.errors import UsageError
from ctas7_panel.settings import TYPE_LANGUAGES

if TYPE_CHECKING:
    from ctas7_panel.schema.model import Catalog
    from ctas7_panel.schema.options import TypegenOptions
    from ctas7_panel.schema.typegen_meta import Generated

LANGUAGES: tuple[str, ...] = TYPE_LANGUAGES  # CTAS7_TYPES accepts these (settings.py)
EXTENSIONS: dict[str, str] = {"typescript": ".ts", "python": ".py", "go": ".go", "swift": ".swift"}


def check_language(language: str) -> str:
    """``language`` if supported, else a ``UsageError`` listing the supported ones."""
    if language not in LANGUAGES:
        raise UsageError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    return language


def needs_type_list(language: str) -> bool:
    """Whether ``language``'s generator reads ``Catalog.types`` (all but TypeScript)."""
    return check_language(language) != "typescript"


def render(language: str, catalog: Catalog, options: TypegenOptions | None = None) -> Generated:
    """The text for ``language`` and its deviations from the reference (see ``Generated``)."""
    check_language(language)
    options = options or catalog.options
    if language == "typescript":
        from ctas7_panel.schema.typegen import generate_typescript
        from ctas7_panel.schema.typegen_meta import Generated

        return Generated(generate_typescript(catalog, options))
    module = importlib.import_module(f"ctas7_panel.schema.typegen_{language}")
    result: Generated = getattr(module, f"generate_{language}")(catalog, options)
    return result


def generate(language: str, catalog: Catalog, options: TypegenOptions | None = None) -> str:
    """What ``supabase gen types --lang <language>`` prints for ``catalog``."""
    return render(language, catalog, options).text


__all__ = ["EXTENSIONS", "LANGUAGES", "check_language", "generate", "needs_type_list", "render"]
