"""``settings:`` and the kinds a manifest set manages, from the parsed files.

Settings may sit in any file of the set; each key may be set once. A kind is
managed when its key holds a list, even an empty one: under
``settings.prune: true`` that is how a set says "none of these" (docs/architecture.md, Manifests).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import Problem
from ..model import Safety, Settings, Threshold
from ._walk import TOP_LEVEL
from ._yaml import MDict, MList


def declared_kinds(data: MDict) -> set[str]:
    """The kinds one file declares with a list, entries or not."""
    kinds = {kind for key, kind in TOP_LEVEL.items() if isinstance(data.get(key), MList)}
    for company in _dicts(data.get("companies")):
        if isinstance(company.get("projects"), MList):
            kinds.add("project")
        for project in _dicts(company.get("projects")):
            if isinstance(project.get("subprojects"), MList):
                kinds.add("subproject")
    return kinds


def _dicts(value: Any) -> Iterable[MDict]:
    return (item for item in value if isinstance(item, MDict)) if isinstance(value, MList) else ()


def settings_of(found: list[tuple[str, MDict]], problems: list[Problem]) -> Settings:
    """The settings of a whole set (the schema has checked each value's type)."""
    first: dict[str, str] = {}
    values: dict[str, Any] = {}
    for file, data in found:
        for key in data:
            line = data.key_lines.get(key)
            if key in first:
                problems.append(Problem(file, line, f"settings.{key}",
                                        f"settings.{key} is set twice: first at {first[key]}"))
                continue
            first[key] = f"{file}:{line}" if line else file
            values[key] = data[key]
    platform = values.get("platform")
    return Settings(
        prune=values.get("prune") is True, safety=_safety(values.get("safety")),
        platform=platform if isinstance(platform, str) else None,
        platform_at=first.get("platform", ""),
    )


def _threshold(data: Any, base: Threshold) -> Threshold:
    if not isinstance(data, dict):
        return base
    ratio, least = data.get("ratio", base.ratio), data.get("min", base.min)
    return Threshold(
        ratio=float(ratio) if isinstance(ratio, (int, float)) else base.ratio,
        min=int(least) if isinstance(least, (int, float)) else base.min,
    )


def _safety(data: Any) -> Safety:
    if not isinstance(data, dict):
        return Safety()
    default = _threshold(data, Threshold())
    kinds = data.get("kinds")
    if not isinstance(kinds, dict):
        kinds = {}
    return Safety(
        default,
        {kind: _threshold(rule, default) for kind, rule in kinds.items()},
        refuse_in_use=data.get("refuseInUse") is True,
    )
