"""Differential typegen: our generator against Supabase's own, byte for byte.

A ``Case`` is SQL for a fresh database plus the generator options. ``run_case`` loads it into
a throwaway database on the server of an admin URL, generates every language for every
reference version with our code (one introspection) and with postgres-meta from npm
(``reference.run_reference``, several processes at once, or one long-lived process per
version, ``reference.ReferenceServers``, passed as ``run``), and sorts each comparison into:

- ``identical``: byte for byte;
- ``deviation``: a documented deviation: the reference crashed (``TypeError: ...``, e.g. on
  functions named ``constructor``, or 0.98.0's Python on ``feature_matrix``), our generator
  reports that it repaired output the reference gets wrong (``Generated.deviations`` of the
  language dispatcher), or TypeScript relationship entries differ only in tie order;
- ``mismatch``: anything else, with a unified diff. That is a bug.

Languages come from ``ctas7_panel.schema.languages`` when that dispatcher exists, otherwise
TypeScript only. Used by ``tests/integration/schema/test_schema_differential.py`` and
``benchmarks/typegen_diff.py``.
"""

from __future__ import annotations

import difflib
import importlib
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ctas7_panel import pgtools
from ctas7_panel.schema import reference
from ctas7_panel.schema.options import TypegenOptions

_SCHEMAS_HEADER = re.compile(r"^--\s*schemas:\s*(.*)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Case:
    """SQL for an empty database and the options to generate with (version aside)."""

    name: str
    sql: str
    options: TypegenOptions = field(default_factory=TypegenOptions)

    @classmethod
    def from_file(cls, path: Path) -> Case:
        """A case from a ``.sql`` file whose ``-- schemas: a,b`` line (``*``: every schema)
        gives the schema list; without one, the Supabase CLI's default."""
        sql = path.read_text()
        match = _SCHEMAS_HEADER.search(sql)
        options = TypegenOptions()
        if match:
            listed = match.group(1).strip()
            options = TypegenOptions(schemas=None if listed == "*" else tuple(listed.split(",")))
        return cls(path.stem, sql, options)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One comparison: case x language x version."""

    case: str
    lang: str
    version: str
    verdict: str  # "identical" | "deviation" | "mismatch"
    detail: str = ""


def languages() -> tuple[str, ...]:
    """The languages our generator speaks: the dispatcher's list, or TypeScript alone."""
    try:
        dispatcher = importlib.import_module("ctas7_panel.schema.languages")
    except ImportError:
        return ("typescript",)
    return tuple(dispatcher.LANGUAGES)


def load_sql(url: str, sql: str) -> None:
    """Run ``sql`` statement by statement (psql, so big scripts need no huge transaction)."""
    psql = shutil.which("psql")
    if psql is None:
        pgtools.apply_sql(url, sql)
        return
    done = subprocess.run(
        [psql, "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"],
        input=sql.encode(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise reference.ReferenceError(
            f"the case's SQL failed: {done.stderr.decode(errors='replace').strip()[:500]}"
        )


Generated = tuple[str, tuple[str, ...]]  # text, deviations our generator reports
RunReference = Callable[..., str]  # reference.run_reference's signature


def _ours(
    url: str, options: TypegenOptions, langs: Sequence[str], versions: Sequence[str]
) -> dict[tuple[str, str], Generated]:
    from ctas7_panel.schema.introspect import introspect

    try:
        dispatcher: Any = importlib.import_module("ctas7_panel.schema.languages")
    except ImportError:
        dispatcher = None
    type_list = dispatcher is not None and any(
        getattr(dispatcher, "needs_type_list", lambda _: False)(lang) for lang in langs
    )
    with pgtools.connect(url) as conn:
        # the dispatcher's Python, Go and Swift read the type list
        extra: dict[str, Any] = {"type_list": True} if type_list else {}
        catalog = introspect(conn, options, **extra)
    out: dict[tuple[str, str], Generated] = {}
    for version in versions:
        opts = replace(options, pg_meta_version=version)
        for lang in langs:
            if dispatcher is None:
                from ctas7_panel.schema.typegen import generate_typescript

                out[(lang, version)] = (generate_typescript(catalog, opts), ())
            else:
                result = dispatcher.render(lang, catalog, opts)
                out[(lang, version)] = (result.text, tuple(map(str, result.deviations)))
    return out


def _diff(expected: str, actual: str, limit: int = 60) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), "reference", "ours", lineterm="", n=2
    )
    return "\n".join(list(lines)[:limit])


TIE_ORDER = (
    "relationships that differ only in which view column exposes a key are in view-column "
    "order; the reference lists them in its query plan's order"
)


# a crash of the generator's own code (TypeError: ...), not a plain "Error: connect ..."
_JS_CRASH = re.compile(r"^(?:Type|Reference|Range|Syntax)Error: ")
_TIE_KEYS = ("foreignKeyName", "referencedRelation", "referencedColumns")


def relationship_ties_sorted(text: str) -> str:
    """``text`` with each run of relationship entries that the generator's sort cannot tell
    apart (same ``foreignKeyName``, ``referencedRelation`` and ``referencedColumns``) put in
    text order. A view that exposes one key column under several names yields such runs; the
    reference keeps them in the order its server returned them (pure)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if not line.endswith("Relationships: ["):
            continue
        items: list[list[str]] = []
        while i < len(lines) and not lines[i].strip().startswith("]"):
            item = [lines[i]]
            i += 1
            while i < len(lines) and not item[-1].strip().startswith("},"):
                item.append(lines[i])
                i += 1
            items.append(item)

        def key(item: list[str]) -> tuple[str, ...]:
            return tuple(
                x.strip()
                for x in item
                if x.strip().startswith(
                    ("foreignKeyName", "referencedRelation", "referencedColumns")
                )
            )

        run: list[list[str]] = []
        for item in [*items, []]:
            if run and (not item or key(item) != key(run[0])):
                for sorted_item in sorted(run):
                    out.extend(sorted_item)
                run = []
            if item:
                run.append(item)
    return "\n".join(out)


def judge(
    case: str, lang: str, version: str, ours: Generated, theirs: str | reference.ReferenceFailure
) -> Outcome:
    """Sort one comparison (pure)."""
    text, deviations = ours
    if isinstance(theirs, reference.ReferenceFailure):
        if deviations or _JS_CRASH.match(theirs.message):
            return Outcome(case, lang, version, "deviation", f"reference crashed: {theirs.message}")
        return Outcome(case, lang, version, "mismatch", f"reference failed: {theirs}")
    if text == theirs:
        return Outcome(case, lang, version, "identical")
    if lang == "typescript" and relationship_ties_sorted(text) == relationship_ties_sorted(theirs):
        return Outcome(case, lang, version, "deviation", TIE_ORDER)
    if deviations:
        return Outcome(case, lang, version, "deviation", "; ".join(deviations))
    return Outcome(case, lang, version, "mismatch", _diff(theirs, text))


def run_case(
    admin_url: str,
    case: Case,
    *,
    langs: Sequence[str] | None = None,
    versions: Sequence[str] = reference.REFERENCE_VERSIONS,
    workers: int = 4,
    database_prefix: str = "ctas7_diff_",
    run: RunReference | None = None,
) -> list[Outcome]:
    """Load ``case`` into a fresh database and compare every language and version."""
    langs = tuple(langs or languages())
    with pgtools.temporary_database(admin_url, prefix=database_prefix) as url:
        load_sql(url, case.sql)
        return compare(
            url,
            case.name,
            case.options,
            langs=langs,
            versions=versions,
            workers=workers,
            run=run,
        )


def compare(
    url: str,
    name: str,
    options: TypegenOptions,
    *,
    langs: Sequence[str],
    versions: Sequence[str],
    workers: int = 4,
    run: RunReference | None = None,
) -> list[Outcome]:
    """Compare every language and version on the database at ``url`` as it is.

    ``run`` produces the reference's output (default: ``reference.run_reference``, one Node
    process per output; ``ReferenceServers.run`` reuses one per version).
    """
    swift_access = getattr(options, "swift_access_control", None)
    run_reference = run or reference.run_reference

    def theirs(key: tuple[str, str]) -> str | reference.ReferenceFailure:
        lang, version = key
        try:
            return run_reference(
                url,
                version,
                options,
                lang=lang,
                swift_access_control=swift_access if lang == "swift" else None,
            )
        except reference.ReferenceFailure as exc:
            return exc

    keys = [(lang, version) for version in versions for lang in langs]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending = pool.map(theirs, keys)
        ours = _ours(url, options, langs, versions)
        references = dict(zip(keys, pending, strict=True))
    return [
        judge(name, lang, version, ours[(lang, version)], references[(lang, version)])
        for lang, version in keys
    ]


def tally(outcomes: Iterable[Outcome]) -> str:
    """``N schemas x L languages x V versions = T: a identical, b deviations, c mismatches``."""
    items = list(outcomes)
    cases = {o.case for o in items}
    langs = {o.lang for o in items}
    versions = {o.version for o in items}
    counts = Counter(o.verdict for o in items)
    return (
        f"{len(cases)} schemas x {len(langs)} languages x {len(versions)} versions = "
        f"{len(items)} comparisons: {counts['identical']} identical, "
        f"{counts['deviation']} documented deviations, {counts['mismatch']} mismatches"
    )


def report(outcomes: Iterable[Outcome], show: Callable[[str], None] = print) -> None:
    """Print every mismatch and deviation, then the tally."""
    items = list(outcomes)
    for o in items:
        if o.verdict != "identical":
            show(f"{o.verdict}: {o.case} {o.lang} {o.version}\n{o.detail}")
    show(tally(items))
