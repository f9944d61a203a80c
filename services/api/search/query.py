"""The search box's syntax — words, "exact phrases", prefix* — turned into an FTS5 query.

Every term is emitted as a quoted string of word characters, so no input can produce FTS5 syntax
of its own (column filters, NEAR, bare operators) or a syntax error.
"""

from __future__ import annotations

import re

from shared.errors import InvalidInput

_TERM = re.compile(r'"([^"]*)"|([^\s"]+)')
_WORD = re.compile(r"\w+")


def to_fts5(query: str) -> str:
    """All terms must match (AND); a term ending in * matches words starting with it."""
    if query.count('"') % 2:
        raise InvalidInput("the query has an unbalanced double quote", field="query")
    terms: list[str] = []
    for phrase, word in _TERM.findall(query):
        words = _WORD.findall(phrase if phrase else word)
        if not words:
            continue
        term = '"' + " ".join(words) + '"'
        if not phrase and word.endswith("*"):
            term += "*"
        terms.append(term)
    if not terms:
        raise InvalidInput("the query has no words to search for", field="query")
    return " ".join(terms)
