"""Which characters a text may hold: one rule for every entry point (API, MCP, rules)."""

from __future__ import annotations

import re
from typing import Any

# NUL and the other C0 controls and DEL are refused in every text of every request (bodies,
# query strings, MCP tool arguments): SQLite would store them, PostgreSQL refuses NUL, and a
# NUL in a search matched every ticket. Tab, line feed and carriage return are text in the long
# fields people write paragraphs in (marked LONG_TEXT), and refused in every other one.

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character(value: object, *, long_text: bool = False) -> str | None:
    """The first control character refused in `value` (a string, or strings nested in lists
    and dicts, keys included), as `U+0000`; None when there is none."""
    pattern = _CONTROL_BUT_LINE_BREAKS if long_text else _CONTROL
    if isinstance(value, str):
        found = pattern.search(value)
        return f"U+{ord(found.group()):04X}" if found else None
    if isinstance(value, list | tuple):
        items: Any = value
    elif isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    else:
        return None
    for item in items:
        if (char := control_character(item, long_text=long_text)) is not None:
            return char
    return None


def without_control_characters(text: str) -> str:
    """The text as a long field may hold it: the refused controls removed (for text we take
    in rather than refuse, such as mail)."""
    return _CONTROL_BUT_LINE_BREAKS.sub("", text)


def control_character_message(char: str, *, long_text: bool) -> str:
    allowed = "tab, line feed and carriage return only" if long_text else "none"
    return f"control character {char} is not allowed (control characters here: {allowed})"
