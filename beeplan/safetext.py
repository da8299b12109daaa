"""Text from outside (entity names, xids, API messages, plan files) made safe to print.

A name holding an ANSI escape or a carriage return could repaint a terminal
or a CI log so that a plan looks other than it is; an API error message
could be a whole HTML page. Everything beeplan prints that it did not write
itself goes through ``printable`` (and API messages through ``capped``).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, line/paragraph separators and the bidirectional
# overrides that reorder what a reader sees.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

API_MESSAGE_CHARS = 300


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x1b``, ``\\n``)."""
    return _UNSAFE.sub(_escape, text)


def capped(text: str, limit: int = API_MESSAGE_CHARS) -> str:
    """``printable(text)``, cut to ``limit`` characters with the cut said."""
    safe = printable(text)
    if len(safe) <= limit:
        return safe
    return f"{safe[:limit]}... ({len(safe) - limit} more characters)"
