"""Manifest and API text cannot write the log, the comment or a spreadsheet (issue #19, point 6).

One hostile name (a forged workflow command after a newline, terminal codes,
bidi and zero-width controls, Markdown links, images, HTML, mentions,
emphasis, fences, table breaks, math) goes through every command that
prints names: validate, diff, plan, check, import and usage, in each format,
over HTTP with the sandbox. Every output is then checked the way a CI log,
a terminal, GitHub's Markdown and a spreadsheet would read it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from beeplan.annotations import Annotation, workflow_command
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.safetext import csv_cell, json_text, markdown, printable

from .conftest import Run

FORGED = "forged.yaml"
HOSTILE = (
    "Evil\n::error file=" + FORGED + ",line=1::pwned\r##[group]g\x1b[2J\x1b]8;;x\x07"
    "\u202eRTL\u200b\u2066 [a](http://ev.il) ![i](http://ev.il/i.png) <img src=x> "
    "<!-- hidden --> @org/team *em* __strong__ ~~gone~~ ```f | cell | www.ev.il $x^2$ &lt;"
)
# The same name at the start of a field: text that opens a line wherever it is printed.
LEADING = "::warning::" + HOSTILE


def manifest(folder: Path, name: str = HOSTILE, lead: str = LEADING) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "companies": [{"xid": "acme", "name": "ACME"}, {"xid": "evil", "name": name}],
        "people": [
            {"xid": "rosa", "name": "Rosa", "company": "acme"},
            {"xid": "p2", "name": lead, "company": "evil"},
        ],
    }
    (folder / "m.yaml").write_text(json.dumps(doc))  # JSON is YAML: every escape exact
    return folder


INVISIBLE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
)


def assert_log_safe(text: str, annotations: int = 0) -> None:
    """What a terminal or a GitHub log makes of ``text``: its own lines, nothing else.

    ``annotations``: how many ``::`` lines beeplan itself writes (``--format github``),
    each a well-formed command whose data cannot hold a forged one.
    """
    assert not INVISIBLE.search(text), repr(INVISIBLE.search(text))
    assert "##[" not in text
    commands = [line for line in text.split("\n") if line.lstrip().startswith("::")]
    assert len(commands) == annotations, commands
    for line in commands:
        found = re.match(r"::(error|warning|notice) (file=([^,:]+),(line=\d+,)?)?title=beeplan::",
                         line)
        assert found and found.group(3) != FORGED, line  # the name's text stays data


def assert_markdown_safe(text: str) -> None:
    """GitHub's reading of ``text``: no link, image, HTML, mention or emphasis from the name."""
    assert_log_safe(text)
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    html = parser.render(text)
    for made in ("<a ", "<img", "<!-- hidden", "<em>em</em>", "<strong>strong</strong>",
                 "<del>", "<s>"):
        assert made not in html, made
    # What GitHub links after rendering, in text outside code: mentions, bare URLs, www.
    words = " ".join(
        child.content
        for token in parser.parse(text) if token.type == "inline"
        for child in token.children or () if child.type == "text"
    )
    assert not re.search(r"(?<![\w.+-])@org", words)
    assert "http://ev.il" not in words and "www.ev.il" not in words
    # The name never breaks a table: every table row keeps its five or six cells.
    for line in text.splitlines():
        if line.startswith("|"):
            assert len(re.split(r"(?<!\\)\|", line)) - 2 in (5, 6), line


# --- the escapers themselves ----------------------------------------------------------


def test_every_invisible_character_is_escaped() -> None:
    """Every Cc, Cf, Zl and Zp character of this Python's Unicode, no letter or symbol."""
    for code in range(0x110000):
        char = chr(code)
        unsafe = unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")
        if unicodedata.category(char) == "Cs":
            continue  # lone surrogates: not text Python can print
        escaped = printable(char) != char
        # The list also holds what later Unicode versions made format characters.
        assert escaped == unsafe or (escaped and unicodedata.category(char) == "Cn"), \
            f"U+{code:04X}"


def test_workflow_markers_never_start_a_line() -> None:
    assert printable("::error::x") == "\\x3a:error::x"
    assert printable("  ::set-output name=a::b") == "  \\x3a:set-output name=a::b"
    assert printable("a ##[error]b") == "a #\\x23[error]b"
    assert printable("Foo::Bar") == "Foo::Bar"  # not at a line start: harmless, kept
    message = workflow_command(Annotation("x\n::error file=" + FORGED + "::y\n##[group]z"))
    assert message.count("::") == 2 + 1  # beeplan's own two, and one kept inside the data
    assert "%0A\\x3a:error" in message and "#\\x23[group]" in message


def test_json_text_keeps_the_data_and_prints_nothing_invisible() -> None:
    doc = {"name": HOSTILE, "é": "Zoë ##[x]"}
    text = json_text(doc)
    assert json.loads(text) == doc
    assert not INVISIBLE.search(text) and "##[" not in text
    assert "Zoë" in text  # letters of any language stay as written


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx",
                                  " =1+1", "   @SUM(A1)", "\u00a0=1+2", "\u3000-1+2", " \t=1"])
def test_csv_formula_cells_are_neutralised(cell: str) -> None:
    assert csv_cell(cell) == "'" + printable(cell)  # a tab or CR also written as \t, \r
    assert csv_cell("Rosa") == "Rosa" and csv_cell(12) == 12


def test_markdown_escaper_renders_the_name_as_text() -> None:
    assert_markdown_safe(f"- {markdown(HOSTILE)}\n\n| a | b | c | d | e |\n|---|---|---|---|---|\n"
                         f"| {markdown(HOSTILE)} | 1 | 2 | 3 | 4 |\n")
    # Ordinary text reads as it always did: plans without hostile names do not change.
    plain = "person rosa (Rosa Parks, desired.yaml:9): email 'r.parks@example.com' is taken"
    assert markdown(plain) == plain


# --- every command ----------------------------------------------------------------------


def test_validate(cli_main: Run, tmp_path: Path) -> None:
    folder = manifest(tmp_path / "m")
    for fmt in ("text", "json", "github"):
        code, out, err = cli_main("validate", folder, "--format", fmt)
        assert code == 0, err
        assert_log_safe(out + err)
    # A hostile name in an error message: each line of the error escaped too.
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "m.yaml").write_text(json.dumps({"companies": [{"xid": "x", "name": HOSTILE,
                                                           "bogus": LEADING}]}))
    code, out, err = cli_main("validate", bad, "--format", "github")
    assert code == 1
    assert_log_safe(out, annotations=out.count("\n"))
    code, out, err = cli_main("validate", bad)
    assert code == 1 and "bogus" in err
    assert_log_safe(out + err)


def test_a_file_name_cannot_forge_a_command(
    cli_main: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest file named like a command, validated from its own folder (``.``)."""
    name = "::error file=" + FORGED + ",line=1::x.yaml"
    (tmp_path / name).write_text("companies:\n  - {xid: acme, name: ACME, bogus: 1}\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli_main("validate", ".", "--format", "github")
    assert code == 1
    assert_log_safe(out, annotations=1)
    assert out.startswith("::error file=%3A%3Aerror file=" + FORGED + "%2Cline=1%3A%3Ax.yaml,"
                          "line=2,title=beeplan::")  # GitHub still finds the file
    code, out, err = cli_main("validate", ".")
    assert code == 1 and "bogus" in err
    assert_log_safe(out + err)


def test_diff_in_every_format(cli_main: Run, tmp_path: Path) -> None:
    old = manifest(tmp_path / "old", name="Evil", lead="P2")
    # NEW renames both, and drops a key of an entity both sets hold (a "no longer
    # managed" line, which quotes the name too).
    new = manifest(tmp_path / "new")
    doc = json.loads((old / "m.yaml").read_text())
    doc["companies"][1]["name"] = LEADING
    doc["companies"][1]["customFields"] = {"Industry": "x"}
    (old / "m.yaml").write_text(json.dumps(doc))
    for fmt in ("text", "markdown", "json"):
        code, out, err = cli_main("diff", old, new, "--format", fmt)
        assert code == 0, err
        assert "No longer managed" in out or fmt == "json"
        if fmt == "markdown":
            assert_markdown_safe(out)
            # Outside the code block too (the no-longer-managed line), shown as text.
            assert f"- company evil ({markdown(HOSTILE)}): customFields" in out
        else:
            assert_log_safe(out + err)
        if fmt == "json":
            names = {a["name"] for a in json.loads(out)["actions"]}
            assert HOSTILE in names  # the data itself is exact


def test_plan_and_check_in_every_format(run: Run, tmp_path: Path) -> None:
    folder = manifest(tmp_path / "m")
    for fmt in ("text", "markdown", "json", "github"):
        code, out, err = run("plan", folder, "--format", fmt, "--usage-days", "0")
        assert code == 0, err
        if fmt == "markdown":
            assert_markdown_safe(out)
        else:
            assert_log_safe(out + err)
        if fmt == "json":
            assert HOSTILE in {a["name"] for a in json.loads(out)["actions"]}
    assert run("apply", folder, "--auto-approve")[0] == 0
    # Now the names come back from the API: drift names them, escaped as well.
    renamed = manifest(tmp_path / "renamed", name=LEADING, lead=HOSTILE)
    for fmt in ("text", "markdown", "json", "github"):
        code, out, err = run("check", renamed, "--format", fmt)
        assert code == 2, err
        if fmt == "markdown":
            assert_markdown_safe(out)
        else:
            assert_log_safe(out + err)
    # Left out of the manifests: the account's names listed as unmanaged, escaped.
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "m.yaml").write_text(json.dumps({"companies": [{"xid": "acme", "name": "ACME"}]}))
    code, out, err = run("plan", alone, "--usage-days", "0")
    assert code == 0 and "? company evil (Evil\\n::error file=" in out, out  # one line
    assert_log_safe(out + err)
    # A new entry named like that unmanaged one: a warning that quotes the name.
    (alone / "m.yaml").write_text(json.dumps({"companies": [
        {"xid": "acme", "name": "ACME"}, {"xid": "evil2", "name": HOSTILE}]}))
    for fmt in ("text", "markdown", "github"):
        code, out, err = run("plan", alone, "--usage-days", "0", "--format", fmt)
        assert code == 0, err
        if fmt == "markdown":
            assert "> **Warning:**" in out and markdown(HOSTILE) in out, out
            assert_markdown_safe(out)
        else:
            assert "Warning: " in out or "::warning " in out, out
            assert_log_safe(out + err, annotations=out.count("\n::warning "))
    code, out, err = run("check", renamed, "--max-calls", "50", "--format", "markdown",
                         "--state", tmp_path / "state.json")
    assert code == 2, err
    assert_markdown_safe(out)


def test_import_and_usage(run: Run, tmp_path: Path) -> None:
    folder = manifest(tmp_path / "m")
    assert run("apply", folder, "--auto-approve")[0] == 0
    code, out, err = run("import", "-o", tmp_path / "imported")
    assert code == 0, err
    assert_log_safe(out + err)
    # The names round-trip exactly through the YAML import wrote.
    code, out, err = run("plan", tmp_path / "imported", "--format", "json", "--usage-days", "0")
    assert code == 0 and json.loads(out)["actions"] == [], err
    for fmt in ("text", "markdown", "json", "csv"):
        code, out, err = run("usage", folder, "--format", fmt)
        assert code == 0, err
        if fmt == "markdown":
            assert_markdown_safe(out)
        else:
            assert_log_safe(out + err)
        if fmt == "csv":  # escaped like any text output, and read back as one row each
            rows = list(csv.reader(io.StringIO(out)))
            assert printable(HOSTILE) in {row[3] for row in rows[1:]}
            assert len(rows) == 1 + 4


def test_usage_csv_cells_that_start_like_formulas(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    formulas = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1:A2)",
                "\tTab", "\rCR", " =cmd|' /C calc'!A0", "\u00a0 +1+1"]
    folder = tmp_path / "m"
    folder.mkdir()
    doc = {"companies": [{"xid": "acme", "name": "ACME"}],
           "people": [{"xid": f"p{i}", "name": n, "company": "acme"}
                      for i, n in enumerate(formulas)]}
    (folder / "m.yaml").write_text(json.dumps(doc))
    assert run("apply", folder, "--auto-approve")[0] == 0
    code, out, err = run("usage", folder, "--format", "csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    names = [row[3] for row in rows[1:] if row[0] == "person"]
    assert sorted(names) == sorted("'" + printable(n) for n in formulas)
    for row in rows[1:]:
        assert not any(cell.lstrip().startswith(("=", "+", "-", "@", "\t", "\r"))
                       for cell in row), row


@pytest.mark.parametrize("command", ["validate", "diff", "plan"])
def test_a_quoted_reference_cannot_print_a_problem_of_its_own(
    run: Run, tmp_path: Path, command: str
) -> None:
    """An unknown reference is quoted in its error: its line break was printed raw, so
    '\\n  m.yaml:1: ...' wrote a forged problem line (and '\\n::x' a line of its own)."""
    folder = tmp_path / "m"
    folder.mkdir()
    forged = "\n  other.yaml:1: companies[0]: all good\n::error::x"
    (folder / "m.yaml").write_text(json.dumps(
        {"companies": [{"xid": "acme", "name": "ACME", "groups": [forged, "\u2028##[group]"]}]}))
    argv = {"validate": ("validate", folder), "diff": ("diff", folder, folder),
            "plan": ("plan", folder)}[command]
    code, out, err = run(*argv)
    assert code == 1, out
    lines = err.strip("\n").split("\n")
    assert lines[0] == "Error: 2 errors in the manifests:", err
    assert len(lines) == 3 and all(line.startswith("  ") for line in lines[1:]), err
    assert "other.yaml" not in "".join(line.split("m.yaml:")[0] for line in lines)
    assert_log_safe(err)
