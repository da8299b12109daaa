"""The one escaping point: text from outside (manifests, the API, plan files) made safe to print.

A name holding an ANSI escape or a carriage return could repaint a terminal
or a CI log so that a plan looks other than it is; a name holding
``\\n::error file=...`` would write its own line into a GitHub log (an
annotation, a masked secret, a folded group); U+202E would show a reviewer
text in another order than the one applied; an API error message could be a
whole HTML page. Every renderer escapes what it did not write itself with
one of these functions, one per kind of output, and no other module defines
an escaper of its own:

- ``printable``: a line of text output (terminal, CI log);
- ``workflow_data``, ``workflow_property``: the parts of a GitHub workflow
  command (an annotation), by GitHub's rules on top of ``printable``;
- ``capped``: an API message, also cut short;
- ``markdown``: inline text of a pull-request comment or job summary;
- ``json_text``: a JSON document (data kept exact, only its spelling changes);
- ``csv_cell``: a spreadsheet cell.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Every character of Unicode's categories Cc (controls: C0, DEL, C1), Cf
# (format: bidirectional marks, overrides and isolates, zero-width spaces
# and joiners, the soft hyphen, the BOM, tags), Zl and Zp (line and
# paragraph separators), as of Unicode 15. None is needed to read a name,
# and each can hide, reorder or repaint what a reviewer sees.
# tests/test_escaping.py checks this list against unicodedata.
_INVISIBLE = (
    "\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
_UNSAFE = re.compile(f"[{_INVISIBLE}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# GitHub's workflow commands: ``::name ...::`` at the start of a line (after
# blanks), and the older ``##[name]``, which the log viewer also honours
# mid-line. Text from outside never holds either as written.
_COMMAND_START = re.compile(r"^(\s*):(?=:)")
_OLD_COMMAND = "##["

API_MESSAGE_CHARS = 300


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` as one line that writes nothing but itself to a terminal or a CI log.

    Every control, format or separator character is written as an escape
    (``\\x1b``, ``\\n``, ``\\u202e``); a leading ``::`` and every ``##[``
    have one character escaped (``\\x3a:``, ``#\\x23[``), so that text never
    starts a workflow command wherever it is printed.
    """
    return _COMMAND_START.sub(lambda m: m.group(1) + "\\x3a", _visible(text))


def _visible(text: str) -> str:
    """Every invisible character escaped, and ``##[``: ``printable`` short of the line start."""
    return _UNSAFE.sub(_escape, text).replace(_OLD_COMMAND, "#\\x23[")


def printable_lines(text: str) -> str:
    """Each line of ``text`` made ``printable``, the line breaks kept (a multi-line message)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def capped(text: str, limit: int = API_MESSAGE_CHARS) -> str:
    """``printable(text)``, cut to ``limit`` characters with the cut said."""
    safe = printable(text)
    if len(safe) <= limit:
        return safe
    return f"{safe[:limit]}... ({len(safe) - limit} more characters)"


def workflow_data(text: str) -> str:
    """A GitHub workflow command's message: ``%``, CR and LF would end or corrupt the command.

    Line breaks stay line breaks (GitHub shows ``%0A`` as one), each line
    ``printable``: no control character repaints the log, and no line of
    the message starts a command of its own.
    """
    parts = re.split(r"(\r|\n)", text)
    safe = "".join(part if part in ("\r", "\n") else printable(part) for part in parts)
    return safe.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: str) -> str:
    """A property value (file, title): one line, and no separator ``:`` or ``,`` either.

    It sits mid-line, and its ``:`` are encoded, so it cannot start a
    command: a file name is kept as close to itself as that allows.
    """
    safe = _visible(text).replace("%", "%25")
    return safe.replace(":", "%3A").replace(",", "%2C")


# Markdown: the characters that start a construct (emphasis, links, images,
# HTML and comments, entities, math, tables, strikethrough, escapes) are
# backslash-escaped, which CommonMark allows for any ASCII punctuation.
# Backticks are not: beeplan's own messages quote code with them, and a code
# span, wherever a stray backtick opens or closes one, renders nothing but
# text (the escapes make whatever falls outside it text too). GitHub links
# some text after rendering (@mentions, bare URLs, www.): a word joiner
# (U+2060, invisible) is put inside each, as Dependabot does for mentions.
_MD_SPECIAL = re.compile(r"([\\*_\[\]<>|~&$])")
_MD_LINE_START = re.compile(r"^(\s*)([#>+=`-])")
# "1. item" starts an ordered list; CommonMark keeps a backslash before a digit
# as written, so the escape goes before the dot ("1\. item"), which it drops.
_MD_LIST_NUMBER = re.compile(r"^(\s*\d+)([.)])")
_MD_AUTOLINK = re.compile(r"(?i)((?<![\w.+-])@(?=\w)|(?<=[a-z])(?=://)|\bwww(?=\.))")
_WORD_JOINER = "\u2060"


def markdown(text: str) -> str:
    """Text from outside as inline Markdown that renders as exactly that text.

    No link, image, HTML (comments too), mention, emphasis, math, table cell
    break or block start (a list, a quote, a heading, a fence), and one line
    (``printable`` first); a backtick is left as it is (see above). Ordinary
    words and punctuation (``.``, ``,``, ``:``, ``(``, ``'``) are left as
    written, so plans without such text read as they always did. ``|`` is
    escaped too, so the same text is safe in a table cell and in a paragraph.
    """
    safe = _MD_SPECIAL.sub(r"\\\1", printable(text))
    safe = _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), safe)
    safe = _MD_LIST_NUMBER.sub(lambda m: m.group(1) + "\\" + m.group(2), safe)
    return _MD_AUTOLINK.sub(lambda m: m.group(1) + _WORD_JOINER, safe)


def code_span(text: str) -> str:
    """``text`` as a Markdown code span that no backtick inside it can close."""
    safe = printable(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", safe)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if safe.startswith("`") or safe.endswith("`") else ""
    return f"{ticks}{pad}{safe}{pad}{ticks}"


# json.dumps escapes C0 controls itself; the rest of the invisible set it writes raw.
_JSON_UNSAFE = re.compile(f"[{_INVISIBLE.removeprefix(chr(0) + '-' + chr(0x1F))}]")


def json_text(doc: Any, indent: int | None = 2) -> str:
    """``doc`` as JSON that prints safely, with the same data as ``json.dumps``.

    Non-ASCII letters stay as they are (names in any language read back as
    written), but the invisible characters ``printable`` escapes, and
    ``##[``, are written as ``\\uXXXX`` escapes: a terminal or CI log sees no
    control, a JSON reader gets the exact same strings. JSON writes every
    string quoted, so no line of it starts with ``::``.
    """
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    text = _JSON_UNSAFE.sub(lambda m: _json_escape(m.group()), text)
    return text.replace(_OLD_COMMAND, "#\\u0023[")


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a surrogate pair, as JSON spells characters past the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


# OWASP, CSV injection: a cell a spreadsheet would read as a formula starts
# with one of these; a single quote before it makes it text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula (OWASP: prefix a single quote).

    Numbers are left as numbers (a negative number is data, not a formula);
    text that starts like a formula, after any leading blanks, gets ``'``
    in front. The CSV is printed too (to a terminal, a CI log), so text is
    also made ``printable``: a quoted newline would still start a log line.
    """
    if not isinstance(value, str):
        return value
    # Spreadsheets skip leading blanks (" =1+2", a no-break space) before
    # reading a formula, so the test looks past them.
    formula = value.startswith(_FORMULA_START) or value.lstrip().startswith(_FORMULA_START)
    return ("'" if formula else "") + printable(value)
