"""The escaping functions on plain values: exact outputs, no CLI, no HTTP.

tests/test_escaping.py checks that every command's output stays safe; these pin
what each escaper writes, so a change of spelling shows here first.
"""

from __future__ import annotations

import json

import pytest
from markdown_it import MarkdownIt

from beeplan.safetext import (
    API_MESSAGE_CHARS,
    capped,
    code_span,
    csv_cell,
    json_text,
    markdown,
    printable,
    printable_lines,
    workflow_data,
    workflow_property,
)


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain name", "plain name"),
    ("Zoë 東京", "Zoë 東京"),  # letters of any language are left as written
    ("red\x1b[31m", "red\\x1b[31m"),
    ("a\nb\rc\td", "a\\nb\\rc\\td"),
    ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
    ("tag\U000e0041", "tag\\U000e0041"),
    ("::error::forged", "\\x3a:error::forged"),
    ("   ::warning::indented", "   \\x3a:warning::indented"),
    ("mid ::notice:: is fine", "mid ::notice:: is fine"),
    ("x ##[group]y", "x #\\x23[group]y"),
])
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_printable_lines_keeps_the_breaks_and_escapes_each_line() -> None:
    assert printable_lines("one\n::error::two\nthree\r") == "one\n\\x3a:error::two\nthree\\r"


def test_capped_cuts_and_says_how_much_was_cut() -> None:
    assert capped("short") == "short"
    long = "x" * (API_MESSAGE_CHARS + 7)
    assert capped(long) == "x" * API_MESSAGE_CHARS + "... (7 more characters)"
    # The cut counts the escaped text: an escape is never split in the middle unseen.
    assert capped("\x1b" * 3, limit=5) == "\\x1b\\... (7 more characters)"


def test_workflow_data_encodes_what_would_end_the_command() -> None:
    assert workflow_data("100% done") == "100%25 done"
    assert workflow_data("one\ntwo\r\n::error::x") == "one%0Atwo%0D%0A\\x3a:error::x"
    assert workflow_data("\x1b[2J") == "\\x1b[2J"


def test_workflow_property_has_no_separator_left() -> None:
    assert workflow_property("a,b:c%d") == "a%2Cb%3Ac%25d"
    # One line: a break in a file name is written, never made.
    assert workflow_property("x\ny") == "x\\ny"


@pytest.mark.parametrize(("raw", "shown"), [
    ("ACME Corp.", "ACME Corp."),
    ("*bold* _em_", "\\*bold\\* \\_em\\_"),
    ("[link](http://x)", "\\[link\\](http\u2060://x)"),
    ("<!-- hide -->", "\\<!-- hide --\\>"),
    ("a | b", "a \\| b"),
    ("# heading", "\\# heading"),
    ("- item", "\\- item"),
    ("@team ping", "@\u2060team ping"),
    ("mail@example.com", "mail@example.com"),  # not a mention: left alone
    ("www.example.com", "www\u2060.example.com"),
    ("$x$ ~y~ &amp;", "\\$x\\$ \\~y\\~ \\&amp;"),
    ("two\nlines", "two\\\\nlines"),  # printable's escape, its backslash escaped
])
def test_markdown(raw: str, shown: str) -> None:
    assert markdown(raw) == shown


def test_markdown_of_a_numbered_name_renders_as_written() -> None:
    html = MarkdownIt("commonmark").render(markdown("1. item"))
    assert html == "<p>1. item</p>\n"


@pytest.mark.parametrize(("raw", "span"), [
    ("plain", "`plain`"),
    ("a`b", "``a`b``"),
    ("``x", "``` ``x ```"),
    ("a|b", "`a\\|b`"),
    ("new\nline", "`new\\nline`"),
])
def test_code_span_cannot_be_closed_from_inside(raw: str, span: str) -> None:
    assert code_span(raw) == span


def test_json_text_round_trips_and_prints_no_invisible_character() -> None:
    doc = {"name": "Zoë\u202e\x1b[31m##[x", "emoji": "\U0001f41d", "tag": "\U000e0041"}
    text = json_text(doc, indent=None)
    assert json.loads(text) == doc
    assert "\u202e" not in text and "\x1b" not in text and "##[" not in text
    assert "\\u202e" in text and "\\udb40\\udc41" in text  # a tag: a surrogate pair
    assert "Zoë" in text and "\U0001f41d" in text  # printable characters stay as written


@pytest.mark.parametrize(("value", "cell"), [
    ("=SUM(A1)", "'=SUM(A1)"),
    ("+1", "'+1"),
    ("-x", "'-x"),
    ("@cmd", "'@cmd"),
    ("\tx", "'\\tx"),
    ("plain", "plain"),
    (-3, -3),  # a number is data, not a formula
    (None, None),
])
def test_csv_cell(value: object, cell: object) -> None:
    assert csv_cell(value) == cell
