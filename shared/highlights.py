"""Search highlights as safe HTML: the matches in `<mark>` tags, everything else escaped text.

The engines (FTS5's snippet/highlight, PostgreSQL's ts_headline) wrap matches in markers of our
choosing and return the stored text around them as it is: a customer's `<script>` included.
The markers are two control characters, which the index never holds (the index statements
remove them from the text they copy, so no stored text can forge a mark). The marked text is
escaped first, and only then do the markers become tags.
"""

from __future__ import annotations

import html

MARK_START = "\x02"
MARK_END = "\x03"


def sqlite_unmarked(expression: str) -> str:
    """SQL (SQLite) for `expression` without the marker characters."""
    return f"replace(replace({expression}, char(2), ''), char(3), '')"


def postgres_unmarked(expression: str) -> str:
    """SQL (PostgreSQL) for `expression` without the marker characters."""
    return f"translate({expression}, chr(2) || chr(3), '')"


def marked_html(marked: str) -> str:
    """The engine's marked text as HTML: escaped, then the markers turned into <mark> tags."""
    escaped = html.escape(marked, quote=True)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
