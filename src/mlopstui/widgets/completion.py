"""Completion for the `:` command line: commands, contexts and namespaces."""

from __future__ import annotations

from textual.suggester import Suggester


def complete(value: str, candidates: list[str], unique_only: bool = False) -> str:
    """Tab completion: the one candidate that starts with value (case-insensitive), else the longest common
    prefix of those that do (unique_only: else value unchanged). An exact candidate is kept as it is."""
    v = value.lstrip(":")
    low = v.lower()
    if not low or any(c.lower() == low for c in candidates):
        return v
    hits = [c for c in dict.fromkeys(candidates) if c.lower().startswith(low)]
    if len(hits) == 1:
        return hits[0]
    if unique_only or not hits:
        return v
    prefix = hits[0]
    for h in hits[1:]:
        while not h.lower().startswith(prefix.lower()):
            prefix = prefix[:-1]
    return prefix if len(prefix) > len(v) else v


class CommandSuggester(Suggester):
    def __init__(self, provider):
        super().__init__(use_cache=False, case_sensitive=False)
        self._provider = provider  # callable -> list of full command strings

    async def get_suggestion(self, value: str) -> str | None:
        v = value.lower().lstrip(":")
        if not v:
            return None
        for candidate in self._provider():
            if candidate.lower().startswith(v) and candidate.lower() != v:
                return candidate
        return None
