"""The search box's syntax — words, "exact phrases", prefix* — parsed once, then written for
the engine at hand: an FTS5 query on SQLite, a tsquery on PostgreSQL.

Terms keep word characters only, so no input can inject the engines' own operators or cause
a syntax error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.errors import InvalidInput

_TERM = re.compile(r'"([^"]*)"|([^\s"]+)')
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class SearchTerm:
    """One word, or a phrase of words in a row; `prefix`: the last word may be a word's start."""

    words: tuple[str, ...]
    prefix: bool = False


def parse_query(query: str) -> list[SearchTerm]:
    """All terms must match (AND)."""
    if query.count('"') % 2:
        raise InvalidInput("the query has an unbalanced double quote", field="query")
    terms: list[SearchTerm] = []
    for phrase, word in _TERM.findall(query):
        words = tuple(_WORD.findall(phrase if phrase else word))
        if words:
            terms.append(SearchTerm(words, prefix=not phrase and word.endswith("*")))
    if not terms:
        raise InvalidInput("the query has no words to search for", field="query")
    return terms


def to_fts5(terms: list[SearchTerm], *, any_term: bool = False) -> str:
    """All terms must match; with `any_term`, one is enough (ranking favours more)."""
    return (" OR " if any_term else " ").join(
        '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "") for term in terms
    )


def to_tsquery(terms: list[SearchTerm], *, any_term: bool = False) -> str:
    """All terms must match; with `any_term`, one is enough (ranking favours more)."""
    rendered = []
    for term in terms:
        words = [word.lower() for word in term.words]
        if term.prefix:
            words[-1] += ":*"
        rendered.append("(" + " <-> ".join(words) + ")")
    return (" | " if any_term else " & ").join(rendered)
