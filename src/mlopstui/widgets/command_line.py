"""Completion for the `:` command line: commands, contexts and namespaces."""

from __future__ import annotations

from textual.suggester import Suggester


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
