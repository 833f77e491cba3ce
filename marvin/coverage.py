"""The coverage gate: which registered API commands a test session exercised (called successfully at
least once, on any server it started), measured against an allow-list that may only shrink.

The allow-list names, one per line, a registered command the suite does not exercise yet, with a
`# why` comment. The gate fails when a registered command is neither exercised nor allowed, and also
when an allowed command was exercised after all (take it off the list), names no registered command, or
gives no reason: so the list can only get shorter.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


def merge(snapshots: Iterable[dict]) -> tuple[set[str], collections.Counter]:
    """Several servers' `{"called": {command: n}, "registered": [...]}` as one: the union of what they
    register and the sum of their counts."""
    registered: set[str] = set()
    called: collections.Counter = collections.Counter()
    for snapshot in snapshots:
        registered.update(snapshot.get("registered", []))
        called.update({name: n for name, n in snapshot.get("called", {}).items() if n})
    return registered, called


def parse_allowlist(text: str) -> dict[str, str]:
    """`command  # why` lines → {command: why}; blank and whole-line comments are skipped."""
    allowed: dict[str, str] = {}
    for line in text.splitlines():
        entry, _, why = line.partition("#")
        if entry.strip():
            allowed[entry.strip()] = why.strip()
    return allowed


def read_allowlist(path: Path | None) -> dict[str, str]:
    return parse_allowlist(path.read_text()) if path and path.exists() else {}


@dataclass
class Report:
    registered: set[str]
    called: collections.Counter
    allowed: dict[str, str] = field(default_factory=dict)

    @property
    def exercised(self) -> set[str]:
        return {name for name in self.registered if self.called.get(name)}

    @property
    def missing(self) -> list[str]:
        """Registered, not exercised, not allowed: a test is owed."""
        return sorted(self.registered - self.exercised - set(self.allowed))

    @property
    def stale(self) -> list[str]:
        """Allowed yet exercised: the entry must go (this is what makes the list shrink)."""
        return sorted(set(self.allowed) & self.exercised)

    @property
    def unknown(self) -> list[str]:
        return sorted(set(self.allowed) - self.registered)

    @property
    def unexplained(self) -> list[str]:
        return sorted(name for name, why in self.allowed.items() if not why)

    def summary(self) -> str:
        return f"{len(self.exercised)} of {len(self.registered)} registered commands exercised"

    def problems(self) -> list[str]:
        lines = []
        if self.missing:
            lines.append(f"not exercised by any test (add a test, or allow-list with a reason): "
                         f"{', '.join(self.missing)}")
        if self.stale:
            lines.append(f"exercised now, remove from the allow-list: {', '.join(self.stale)}")
        if self.unknown:
            lines.append(f"allow-listed but not a registered command: {', '.join(self.unknown)}")
        if self.unexplained:
            lines.append(f"allow-listed without a `# why`: {', '.join(self.unexplained)}")
        return lines

    @property
    def ok(self) -> bool:
        return not self.problems()


def report(snapshots: Iterable[dict], allowed: dict[str, str] | None = None) -> Report | None:
    """The session's report, or None when no server reported anything (nothing was measured)."""
    registered, called = merge(snapshots)
    return Report(registered, called, allowed or {}) if registered else None

