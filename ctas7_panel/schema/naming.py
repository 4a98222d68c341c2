"""Names for generated code: the reference's own spelling, repaired only where it is invalid.

Supabase's generators turn database names into identifiers with simple rules (PascalCase for
types, snake_case for Python fields), which for odd names give identifiers a compiler rejects
(``01``, ``class``), or the same identifier twice (``a_b`` and ``a-b``). ``Namer`` keeps every
name the reference would write when it is valid, and gives the others a valid, unique name,
remembering what it changed so the caller can report each deviation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class Namer:
    """Assigns names in one namespace (a module, a class, a struct).

    ``is_valid(name)`` says whether the reference's spelling may stand; ``repair(name)`` gives
    the spelling to start from when it may not (the namer then adds ``_2``, ``_3``... until the
    result is valid and free). ``taken`` starts with the names the namespace already binds.
    """

    is_valid: Callable[[str], bool]
    repair: Callable[[str], str]
    taken: set[str] = field(default_factory=set)

    def assign(
        self, wanted: Sequence[str], exact: Sequence[bool] = ()
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """Names for ``wanted`` (in order) and the ``(reference, ours)`` pairs that differ.

        A repaired name never takes a name the reference spells validly: first every valid,
        unused reference name is kept (those flagged in ``exact``, i.e. spelled exactly as in
        the database, before the others; then the first of equal names), then the rest are
        repaired.
        """
        if len(set(wanted)) == len(wanted) and self.taken.isdisjoint(wanted):
            if all(self.is_valid(name) for name in wanted):  # the usual case: nothing to do
                self.taken.update(wanted)
                return list(wanted), []
        names: list[str | None] = [None] * len(wanted)
        flags = list(exact) or [False] * len(wanted)
        for first in (True, False):
            for i, name in enumerate(wanted):
                if flags[i] != first or names[i] is not None:
                    continue
                if name not in self.taken and self.is_valid(name):
                    self.taken.add(name)
                    names[i] = name
        changed: list[tuple[str, str]] = []
        for i, name in enumerate(wanted):
            if names[i] is not None:
                continue
            base = self.repair(name)
            candidate, n = base, 1
            while candidate in self.taken or not self.is_valid(candidate):
                n += 1
                candidate = f"{base}_{n}"
            self.taken.add(candidate)
            names[i] = candidate
            changed.append((name, candidate))
        return [n for n in names if n is not None], changed
