"""The words of a ticket worth looking up in the knowledge base."""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.api.search.query import SearchTerm

_WORD = re.compile(r"\w+")
# At most this many words go into one suggestion query: the title's and tags' come first.
MAX_WORDS = 32
MIN_LENGTH = 3

# Common English words that say nothing about the problem. SQLite's FTS5 has no stop list of
# its own, so without this "the" would match every article there (PostgreSQL drops it anyway).
STOPWORDS = frozenset(
    """
    about above after again against all also and any are aren because been before being below
    between both but can cannot could couldn did didn does doesn doing don down during each few
    for from further get gets got had hadn has hasn have haven having help her here hers herself
    him himself his how into isn its itself just let like more most mustn myself need needs nor
    not now off once only other our ours ourselves out over own please same she should shouldn
    since some still such than thank thanks that the their theirs them themselves then there
    these they this those through too under until very was wasn way were weren what when where
    which while who whom why will with won would wouldn yes yet you your yours yourself
    yourselves anyone anything every everything someone something today yesterday tried trying
    want wants
    """.split()
)


def significant_words(texts: Iterable[str], *, limit: int = MAX_WORDS) -> list[str]:
    """Distinct lowercase words of `texts`, in order, without stop words or very short ones."""
    words: list[str] = []
    for text in texts:
        for word in _WORD.findall(text.lower()):
            if len(word) < MIN_LENGTH or word in STOPWORDS or word in words:
                continue
            words.append(word)
            if len(words) == limit:
                return words
    return words


def any_of(words: list[str]) -> list[SearchTerm]:
    return [SearchTerm((word,)) for word in words]
