"""What the schema cannot check: identities, references, cycles, names, dates."""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import Problem
from ._walk import (
    KIND_WORDS,
    PARENT_KEY,
    REFERENCE_LISTS,
    Key,
    Raw,
    aliases,
    label,
    ref_key,
    resolve,
)
from ._yaml import MDict, MList

# What beeplan sends for an unquoted custom field value (see manifest._custom_value):
# YAML 1.2 numbers and true/false; every other word stays the text written.
_NUMBER = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\Z")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]")
# YAML 1.1 booleans that beeplan keeps as text (other YAML tools read a boolean).
_BOOLEAN_WORDS = frozenset({"yes", "no", "on", "off"})


@dataclass(frozen=True)
class PlanNote(Problem):
    """A warning the plan repeats, beside ``validate``: a value read otherwise than written."""

    entity: str = ""  # "company acme", to name the entry in a plan


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _where(raw: Raw, key: str | None = None) -> str:
    return f"{raw.file}:{raw.key_line(key) if key else raw.line}"


class Checker:
    def __init__(self, raws: Sequence[Raw]) -> None:
        self.raws = raws
        self.problems: list[Problem] = []
        # Legal but worth a look: duplicate sibling names (the API allows them).
        self.warnings: list[Problem] = []
        # kind -> identity -> the first entity declaring it
        self.defined: dict[str, dict[Key, Raw]] = {kind: {} for kind in KIND_WORDS}
        self.aliases = aliases(raws)

    def add(self, raw: Raw, key: str | None, path: str, message: str) -> None:
        line = raw.key_line(key) if key else raw.line
        self.problems.append(Problem(raw.file, line, path, message))

    def run(self) -> list[Problem]:
        self.identities()
        self.references()
        self.group_cycles()
        self.leader_cycles()
        self.sibling_names()
        self.dates_and_emails()
        self.texts_the_api_refuses()
        self.custom_values()
        return self.problems

    def custom_values(self) -> None:
        """Unquoted custom field values that YAML reads otherwise than they look.

        A value's type is what reaches the API: ``0200`` goes as the number
        200 and ``true`` as a boolean, while ``yes`` or ``1:30`` stay text here
        but are a boolean or a number to YAML 1.1 tools. Each is a warning with
        what was read and how to quote it; a true/false is one only where the
        manifests show the field holds text.
        """
        found: list[tuple[Raw, str, Any, str]] = []  # (entry, field, value, text written)
        texts: dict[str, str] = {}  # field -> where an entry gives it plain text
        for raw in self.raws:
            values = raw.data.get("customFields")
            if not isinstance(values, MDict):
                continue
            for name, value in values.items():
                text = values.texts.get(name)
                here = f"{raw.file}:{values.key_lines.get(name, raw.line)}"
                if isinstance(value, str):
                    texts.setdefault(name, here)
                elif text is not None:
                    if text.lower() in _BOOLEAN_WORDS:
                        texts.setdefault(name, here)  # sent as the text written
                    found.append((raw, name, value, text))
        for raw, name, value, text in found:
            message = self._custom_value_note(name, value, text, texts.get(name))
            if message is None:
                continue
            values = raw.data["customFields"]
            line = values.key_lines.get(name, raw.line)
            # Named as the plan names entries: "person rosa", "company #12".
            entity = raw.kind if raw.key is None else (
                f"{raw.kind} {raw.key[1]}" if raw.key[0] == "xid" else f"{raw.kind} #{raw.key[1]}")
            self.warnings.append(PlanNote(raw.file, line, f"{raw.path}.customFields.{name}",
                                          message, entity))

    @staticmethod
    def _custom_value_note(name: str, value: Any, text: str, text_at: str | None) -> str | None:
        quoted = f"{name}: '{text}'"
        lower = text.lower()
        if lower in _BOOLEAN_WORDS:
            return (f"YAML 1.1 tools read {text} as the boolean "
                    f"{str(bool(value)).lower()}; beeplan sends the text {text!r}. For text, "
                    f"quote it ({quoted}); for a yes/no field, write true or false")
        if lower in ("true", "false"):
            if text_at is None:
                return None  # nothing here says the field holds text
            return (f"YAML reads {text} as a boolean, but custom field {name!r} holds text "
                    f"at {text_at}; to send the text, quote it ({quoted})")
        if _NUMBER.match(text):
            number = float(text) if any(c in text for c in ".eE") else int(text)
            if _LEADING_ZERO.match(text):
                octal = (f" (YAML 1.1 tools: the octal number {value:g})"
                         if isinstance(value, int) and value != number else "")
                return (f"YAML reads {text} as the number {number:g}{octal}, losing the "
                        f"leading zero; to keep it as written, quote it ({quoted})")
            if "e" in lower:
                return (f"YAML reads {text} as the number {number:g} (an exponent); to keep "
                        f"it as written, quote it ({quoted})")
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # 0o17, 0x1F, 1_000, 1:30, .inf: numbers to YAML 1.1, text to beeplan.
            kind = "sexagesimal (base 60) " if ":" in text else ""
            return (f"YAML 1.1 tools read {text} as the {kind}number "
                    f"{value:g}; beeplan sends the text {text!r}. Quote it ({quoted}) so "
                    "that every tool reads the same")
        return None

    def texts_the_api_refuses(self) -> None:
        # The schema checks lengths; these rules are beyond what it can say clearly.
        for raw in self.raws:
            data = raw.data
            name, xid = data.get("name"), data.get("xid")
            if isinstance(name, str) and name and not name.strip():
                self.add(raw, "name", f"{raw.path}.name",
                         "a name cannot be blank (only spaces): the API refuses it")
            elif isinstance(name, str) and "\x00" in name:
                self.add(raw, "name", f"{raw.path}.name", "a name cannot contain a NUL character")
            if isinstance(xid, str) and xid and not xid.strip():
                self.add(raw, "xid", f"{raw.path}.xid",
                         "an xid cannot be blank (only spaces): the API refuses it")
            elif isinstance(xid, str) and (bad := _CONTROL.search(xid)):
                self.add(raw, "xid", f"{raw.path}.xid",
                         f"an xid cannot contain control characters: {bad.group()!r} at "
                         f"character {bad.start() + 1} (the API refuses it)")
            description = data.get("description")
            if isinstance(description, str) and "\x00" in description:
                self.add(raw, "description", f"{raw.path}.description",
                         "a description cannot contain a NUL character")
            if raw.kind == "person" and data.get("invite") is True and not data.get("email"):
                self.add(raw, "invite", f"{raw.path}.invite",
                         "invite: true needs an email (the invitation goes there): "
                         "add email, or remove invite")

    def identities(self) -> None:
        for raw in self.raws:
            if raw.key is None:
                continue
            keys = [raw.key]
            if raw.new_xid is not None:  # id: N with xid: X is known by both
                keys.append(("xid", raw.new_xid))
            for key in keys:
                first = self.defined[raw.kind].setdefault(key, raw)
                if first is raw:
                    continue
                word = KIND_WORDS[raw.kind][0]
                field = key[0]
                what = f"xid '{key[1]}'" if field == "xid" else f"id {key[1]}"
                self.add(raw, field, f"{raw.path}.{field}",
                         f"{word} {what} is defined twice: first at {_where(first, field)}")

    def _unknown(self, kind: str, xid: str) -> str:
        word = KIND_WORDS[kind][0]
        for other, defined in self.defined.items():
            if other != kind and ("xid", xid) in defined:
                return f"unknown {word} '{xid}' ('{xid}' is a {KIND_WORDS[other][0]})"
        known = [key[1] for key in self.defined[kind] if key[0] == "xid"]
        close = difflib.get_close_matches(xid, known, n=1, cutoff=0.6)
        if close:
            return f"unknown {word} '{xid}'; did you mean '{close[0]}'?"
        return f"unknown {word} '{xid}': no {word} has this xid"

    def _check_ref(self, raw: Raw, path: str, value: Any, kind: str,
                   line: int) -> None:
        target = ref_key(value)
        # References by {id: N} name entities that only the live account knows.
        if target is None or target[0] != "xid" or target in self.defined[kind]:
            return
        self.problems.append(Problem(raw.file, line, path, self._unknown(kind, target[1])))

    def references(self) -> None:
        for raw in self.raws:
            data = raw.data
            parent_key = PARENT_KEY.get(raw.kind)
            if parent_key and parent_key in data:
                target_kind = "group" if raw.kind == "group" else "company"
                self._check_ref(raw, f"{raw.path}.{parent_key}", data[parent_key],
                                target_kind, raw.key_line(parent_key))
            for key, sub, kind in REFERENCE_LISTS[raw.kind]:
                path = f"{raw.path}.{key}"
                items = data.get(key)
                if sub is not None:
                    items = items.get(sub) if isinstance(items, MDict) else None
                    path += f".{sub}"
                if not isinstance(items, MList):
                    continue
                # 40,000 items at 10,000 people: a path is written only for a problem.
                defined, aliases = self.defined[kind], self.aliases
                seen: set[Key] = set()
                for index, item in enumerate(items):
                    named = ref_key(item)
                    if named is not None and named[0] == "xid" and named not in defined:
                        self._check_ref(raw, f"{path}[{index}]", item, kind,
                                        items.item_lines[index])
                    target = resolve(kind, named, aliases) if aliases else named
                    if target is not None and target in seen:
                        self.problems.append(Problem(raw.file, items.item_lines[index],
                                                     f"{path}[{index}]",
                                                     f"{label(target)} is listed twice"))
                    elif target is not None:
                        seen.add(target)

    def group_cycles(self) -> None:
        parents: dict[Key, tuple[Key, Raw]] = {}
        for raw in self.raws:
            if raw.kind == "group" and raw.key is not None and raw.parent is not None:
                parents.setdefault(raw.key, (raw.parent, raw))
        reported: set[Key] = set()
        for start in parents:
            chain: list[Key] = [start]
            on_chain = {start}
            node = start
            while node in parents and node not in reported:
                node = parents[node][0]
                if node in on_chain:
                    cycle = chain[chain.index(node):] + [node]
                    reported.update(cycle)
                    self._report_group_cycle(cycle, parents)
                    break
                chain.append(node)
                on_chain.add(node)
            reported.update(chain)

    def _report_group_cycle(self, cycle: list[Key], parents: dict[Key, tuple[Key, Raw]]) -> None:
        # The 'parent:' key is what closes the loop: nesting alone cannot.
        culprits = [parents[key][1] for key in cycle[:-1] if "parent" in parents[key][1].data]
        raw = culprits[0] if culprits else parents[cycle[0]][1]
        if len(cycle) == 2:
            message = f"group {label(cycle[0])} cannot be its own parent"
        else:
            names = " -> ".join(str(key[1]) for key in cycle)
            message = f"group cycle: {names} (a group cannot be its own ancestor)"
        key = "parent" if "parent" in raw.data else None
        self.add(raw, key, f"{raw.path}.parent" if key else raw.path, message)

    def leader_cycles(self) -> None:
        graph: dict[Key, list[Key]] = {}
        where: dict[Key, Raw] = {}
        for raw in self.raws:
            if raw.kind != "person" or raw.key is None or raw.key in where:
                continue
            where[raw.key] = raw
            leaders = raw.data.get("leaders")
            edges: list[Key] = []
            if isinstance(leaders, MList):
                for index, item in enumerate(leaders):
                    target = resolve("person", ref_key(item), self.aliases)
                    if target == raw.key:
                        self.problems.append(Problem(
                            raw.file, leaders.item_lines[index], f"{raw.path}.leaders[{index}]",
                            f"person {label(raw.key)} cannot be their own leader"))
                    elif target is not None:
                        edges.append(target)
            graph[raw.key] = edges
        # Iterative depth-first search: leader chains can be long.
        state: dict[Key, int] = {}  # 1: on the current path, 2: done
        seen_cycles: set[frozenset[Key]] = set()
        for start in graph:
            if start in state:
                continue
            path: list[Key] = [start]
            state[start] = 1
            iterators = [iter(graph[start])]
            while iterators:
                nxt = next(iterators[-1], None)
                if nxt is None:
                    state[path.pop()] = 2
                    iterators.pop()
                    continue
                if nxt not in graph:
                    continue
                if state.get(nxt) == 1:
                    cycle = path[path.index(nxt):] + [nxt]
                    members = frozenset(cycle)
                    if members not in seen_cycles:
                        seen_cycles.add(members)
                        raw = where[cycle[0]]
                        names = " -> ".join(str(key[1]) for key in cycle)
                        # The API accepts mutual leaders (two people approving each
                        # other) and the planner orders them, so import must write them.
                        self.warnings.append(Problem(
                            raw.file, raw.key_line("leaders"), f"{raw.path}.leaders",
                            f"leader cycle: {names} (each leads the next); allowed, but "
                            "check that nobody ends up approving their own time"))
                elif nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    iterators.append(iter(graph[nxt]))

    def sibling_names(self) -> None:
        seen: dict[tuple[str, Any, str], Raw] = {}
        for raw in self.raws:
            name = raw.data.get("name")
            if not isinstance(name, str) or not name.strip():
                continue
            parent = raw.parent if raw.parent is not None else raw.parent_token
            if raw.kind in PARENT_KEY and raw.kind != "group" and parent is None:
                continue  # no usable company: the schema or the references say so
            folded = " ".join(name.split()).casefold()
            first = seen.setdefault((raw.kind, parent, folded), raw)
            if first is raw:
                continue
            plural = KIND_WORDS[raw.kind][1]
            if raw.kind == "company":
                among = "the companies"
            elif raw.kind == "group" and raw.parent is None and raw.parent_token is None:
                among = "the root groups"
            else:
                parent_kind = {"project": "company", "subproject": "project",
                               "group": "group"}.get(raw.kind, "company")
                among = f"the {plural} of {parent_kind} {label(raw.parent)}"
            # Names are not identity (xids and ids are) and the API accepts twins,
            # so an imported account may hold them: a warning, never an error.
            self.warnings.append(Problem(
                raw.file, raw.key_line("name"), f"{raw.path}.name",
                f"duplicate name '{name}' among {among}: also at {_where(first, 'name')}; "
                "allowed, but people picking from a list cannot tell them apart"))

    def dates_and_emails(self) -> None:
        emails: dict[str, Raw] = {}
        for raw in self.raws:
            data = raw.data
            start = data.get("startDate")
            if isinstance(start, str) and _DATE.match(start):
                try:
                    datetime.date.fromisoformat(start)
                except ValueError:
                    self.add(raw, "startDate", f"{raw.path}.startDate",
                             f"'{start}' is not a real date")
            email = data.get("email")
            if raw.kind == "person" and isinstance(email, str) and email:
                first = emails.setdefault(email.casefold(), raw)
                if first is not raw:
                    self.add(raw, "email", f"{raw.path}.email",
                             f"email '{email}' is also the email of person "
                             f"{label(first.key)} at {_where(first, 'email')}: "
                             "it is the person's username")


def check(raws: Sequence[Raw], warnings: list[Problem] | None = None) -> list[Problem]:
    """The problems of the entities; legal oddities go to ``warnings`` when given."""
    checker = Checker(raws)
    problems = checker.run()
    if warnings is not None:
        warnings.extend(checker.warnings)
    return problems
