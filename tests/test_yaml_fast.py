"""The line-at-a-time YAML reader gives what the event-stream reader gives, or gives up.

``_fastyaml.parse`` reads the plain YAML most manifests are written in and
returns ``NOT_PLAIN`` on anything else; ``_yaml`` then reads the file as before.
Its answer must be the very data ``_yaml`` builds: the same types, values, key
order, and the lines every error message and plan quotes. These tests compare
both on every YAML file of the repository, on generated sets, on the shapes
people write by hand and on thousands of damaged files (a wrong answer there
would be a manifest read differently from what it says).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from beeplan.manifest import _fastyaml, _yaml
from beeplan.manifest._yaml import MDict, MList

ROOT = Path(__file__).resolve().parent.parent
REPO_YAML = sorted(
    p for p in [*ROOT.glob("examples/**/*.yaml"), *ROOT.glob("tests/data/**/*.yaml"),
                *ROOT.glob("examples/**/*.yml"), *ROOT.glob("*.yml")]
)


def event_reader(text: str) -> Any:
    """What ``_yaml`` builds from the event stream, or what it says is wrong."""
    problems: list[Any] = []
    try:
        value = _yaml._Builder("f.yaml", problems).run(text)
    except (_yaml._Stop, _yaml.yaml.YAMLError) as exc:
        return ("refused", type(exc).__name__)
    return ("refused", [p.message for p in problems]) if problems else value


def difference(fast: Any, slow: Any, path: str = "$") -> str | None:
    """Where two read documents differ, lines and source texts included; None if nowhere."""
    if type(fast) is not type(slow):
        return f"{path}: {type(fast).__name__} {fast!r} vs {type(slow).__name__} {slow!r}"
    if not isinstance(fast, (MDict, MList)):
        same = fast == slow and repr(fast) == repr(slow)
        return None if same else f"{path}: {fast!r} vs {slow!r}"

    def facts(node: MDict | MList) -> tuple[Any, ...]:  # lines, texts, keys or length
        if isinstance(node, MDict):
            return node.line, node.key_lines, node.texts, list(node)
        return node.line, node.item_lines, node.texts, len(node)

    if facts(fast) != facts(slow):
        return f"{path}: {facts(fast)} vs {facts(slow)}"
    children = fast.items() if isinstance(fast, MDict) else enumerate(fast)
    for key, child in children:
        found = difference(child, slow[key], f"{path}.{key}" if isinstance(fast, MDict)
                           else f"{path}[{key}]")
        if found:
            return found
    return None


def assert_same_or_not_plain(text: str) -> bool:
    """Both readers agree on ``text`` (True), or the fast one gave up (False)."""
    fast = _fastyaml.parse(text)
    if fast is _fastyaml.NOT_PLAIN:
        return False
    found = difference(fast, event_reader(text))
    assert found is None, f"{found}\n--- text:\n{text}"
    return True


@pytest.mark.parametrize("path", REPO_YAML, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_of_the_repository_reads_the_same(path: Path) -> None:
    assert_same_or_not_plain(path.read_text(encoding="utf-8", errors="replace"))


def test_the_examples_and_generated_sets_take_the_fast_reader(tmp_path: Path) -> None:
    # Speed is the point: the shapes the docs teach and the generator writes must not
    # fall back (one that did would be a silent loss of a third of a load's CPU).
    from benchmarks.generate import OrgSpec, generate, write_manifests

    written = write_manifests(generate(OrgSpec().scaled(0.05), seed=3), tmp_path / "org")
    examples = [p for p in REPO_YAML if p.parts[-3:-1] in {("examples", "acme"),
                                                         ("examples", "current")}]
    assert examples
    read_fast = [p for p in [*examples, *written] if assert_same_or_not_plain(p.read_text())]
    # The generator's YAML dumper writes an anchor where two people share a list: that
    # file, and only such files, take the event reader.
    slow = {p.name for p in [*examples, *written]} - {p.name for p in read_fast}
    assert all("&" in (tmp_path / "org" / "people" / n).read_text() for n in slow
               if (tmp_path / "org" / "people" / n).exists()), slow
    assert len(read_fast) >= len(examples) + len(written) - 3


# The shapes people write by hand, which the fast reader takes.
READ_FAST = [
    "people:\n  - xid: rosa\n    name: Rosa\n    groups: [eng, sales]\n",
    "people:\n- xid: rosa\n  leaders:\n  - jane\n  customFields:\n    location: Lisbon\n",
    "a: {x: 1, y: [true, no, ~, 1.5, '2024-01-31', \"q\"], z: {}}\nb: []\n",
    "# comment\n\nsettings:   # trailing\n  prune: false  # why\n  safety: {maxDestroy: 10}\n",
    "k: 'it''s'\nl: \"a: b\"\nm: a:b\nn: 2024-01-31\no: 0x1F\np: 017\nq: =\nr:\n",
    "-   xid: a\n    name: A\n-   xid: b\n",
    "top:\n    deep:\n        deeper:\n        - 1\n        - two\n    back: yes\n",
    "k: [a , b]\nl: {a : b}\nm: [ ]\n",
    "name: Project #1\nother: x#y\n",
]
# Shapes it leaves to the event reader (valid or not): the answer is the same either way.
OTHER_SHAPES = [
    "on: 1\nno: 2\n'y': 3\n",
    "x: 1\n  y: 2\n",
    "x:\n  - a\n  b: 1\n",
    "- a\nb: 1\n",
    "a: b: c\n",
    "a: [b,\n  c]\n",
    "a: {b}\n",
    "a: [b, ]\n",
    "a: 'b' c\n",
    "a: &x 1\nb: *x\n",
    "a: 1\na: 2\n",
    "<<: {a: 1}\n",
    "a: |\n  text\n",
    "a: b\n  c\n",
    "- - a\n",
    "-\n  a: 1\n",
    "a:\n\tb: 1\n",
    "--- \na: 1\n",
    "a: 1\r\nb: 2\r\n",
    "a: \"\\u00e9\"\n",
    "a: -1\nb: - c\n",
    "? a\n: b\n",
    "a: !!str 1\n",
    "",
    "# only a comment\n",
    "just text\n",
]


@pytest.mark.parametrize("text", READ_FAST)
def test_hand_written_shapes_read_fast_and_the_same(text: str) -> None:
    assert assert_same_or_not_plain(text)


@pytest.mark.parametrize("text", OTHER_SHAPES)
def test_other_shapes_read_the_same_or_go_to_the_event_reader(text: str) -> None:
    assert_same_or_not_plain(text)


def test_an_invalid_file_is_left_to_the_reader_that_explains_it() -> None:
    for text in ["x: 1\n  y: 2\n", "a: 1\na: 2\n", "a: [b,\n", "a:\n\tb: 1\n",
                 "a: b: c\n", "- a\nb: 1\n", "a: *nowhere\n"]:
        assert _fastyaml.parse(text) is _fastyaml.NOT_PLAIN, text
        problems: list[Any] = []
        assert _yaml.parse(text, "f.yaml", problems) is None or problems, text
        assert problems and problems[0].file == "f.yaml" and problems[0].line, text


def test_damaged_files_are_read_the_same_or_given_up_on() -> None:
    # Random edits of real manifests with the characters that mean something in YAML:
    # most make files the fast reader must refuse; every one it reads must agree.
    seeds = [p.read_text(encoding="utf-8", errors="replace") for p in REPO_YAML
             if p.stat().st_size < 4000]
    pieces = [*" :-#'\"[]{},\n&*!|>%@`?~.01aNyT<=", ": ", "- ", " #", "  ", "\n  ",
              "\n- ", "''", "\\", "0x1", "1.5", "true", "null", "2020-01-01", "<<: ",
              "\t", "---\n", "\r\n", "\u2028"]
    rng = random.Random(24)
    agreed = 0
    for _ in range(3000):
        text = rng.choice(seeds)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text) + 1)
            roll = rng.random()
            if roll < 0.4:
                text = text[:at] + rng.choice(pieces) + text[at:]
            elif roll < 0.7:
                text = text[:at] + text[at + rng.randint(1, 3):]
            else:
                start = rng.randrange(len(text) + 1)
                text = text[:at] + text[start:start + rng.randint(1, 20)] + text[at:]
        agreed += assert_same_or_not_plain(text)
    assert agreed > 300  # the comparison ran on many files the fast reader took


def test_the_characters_given_up_on_are_those_yaml_refuses_or_reads_as_line_breaks() -> None:
    # YAML 1.1's printable characters, less its line breaks other than '\n' (NEL,
    # LS, PS) and the byte-order mark: each edge of these ranges, and its neighbours.
    allowed = [(0x0A, 0x0A), (0x20, 0x7E), (0xA0, 0x2027), (0x202A, 0xD7FF),
               (0xE000, 0xFEFE), (0xFF00, 0xFFFD), (0x10000, 0x10FFFF)]
    edges = {c + d for low, high in allowed for c in (low, high) for d in (-1, 0, 1)}
    edges |= {0x09, 0x0D, 0x85, 0x2028, 0x2029, 0xFEFF, 0xD800, 0xDFFF}
    for code in sorted(c for c in edges if 0 <= c <= 0x10FFFF):
        ok = any(low <= code <= high for low, high in allowed)
        refused = _fastyaml._NOT_PLAIN_TEXT.search(chr(code)) is not None
        assert refused is not ok, hex(code)
