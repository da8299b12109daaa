"""What a new sandbox database starts with: custom field definitions and,
from a seed file, initial entities.

The API offers no service to define custom fields, so they come from here.
Without a seed file a new database holds the definitions the reference's
examples use (ids as in the reference), so the quick-start examples run.

Seed file (YAML)::

    customFields:                     # replaces the default definitions
      - {id: 7206, name: Industry, availableFor: [Company]}
      - {name: location, availableFor: [Person, Project, Subproject]}
      - {name: Company address, availableFor: "Company - Customer"}
    calls:                            # service calls run in order, as sent to the API
      - {service: company.create, company: {xid: acme, name: ACME Corp}}
      - {service: project.create, project: {xid: dev, name: Dev, company: {xid: acme}}}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from ....errors import ConfigError
from .services import CF_LABELS

DEFAULT_CUSTOM_FIELDS: list[dict[str, Any]] = [
    {"id": 4641, "name": "Company address", "availableFor": ["Company - Customer"]},
    {"id": 4879, "name": "location", "availableFor": ["Person", "Project", "Subproject"]},
    {"id": 7206, "name": "Industry", "availableFor": ["Company"]},
]

_ALIASES = {
    label.lower(): label for label in CF_LABELS
} | {
    "companies": "Company",
    "customer": "Company - Customer",
    "corporate": "Company - Corporate",
    "people": "Person",
    "projects": "Project",
    "subprojects": "Subproject",
}


def load_seed(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the sandbox seed file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the sandbox seed file {path} is not UTF-8 text (byte "
                          f"0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                          "save it as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the sandbox seed file {path} is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"the sandbox seed file {path} must be a mapping "
                          "with customFields and/or calls")
    unknown = sorted(set(data) - {"customFields", "calls"})
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (expected customFields, calls)")
    return data


def custom_field_rows(fields: Any, source: str) -> list[tuple[int, str, str]]:
    """``(id, name, availableFor JSON)`` rows, with ids allocated where missing."""
    if not isinstance(fields, list):
        raise ConfigError(f"{source}: customFields must be a list")
    rows: list[tuple[int, str, str]] = []
    used = {f["id"] for f in fields if isinstance(f, dict) and isinstance(f.get("id"), int)}
    next_id = max(used, default=1000) + 1
    names: set[str] = set()
    for i, field in enumerate(fields):
        where = f"{source}: customFields[{i}]"
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            raise ConfigError(f"{where} must be a mapping with a name")
        if set(field) - {"id", "name", "availableFor"}:
            raise ConfigError(f"{where}: unknown keys (expected id, name, availableFor)")
        if field["name"] in names:
            raise ConfigError(f"{where}: the name {field['name']!r} is defined twice")
        names.add(field["name"])
        field_id = field.get("id")
        if field_id is None:
            field_id, next_id = next_id, next_id + 1
        elif not isinstance(field_id, int) or isinstance(field_id, bool) or field_id <= 0:
            raise ConfigError(f"{where}: id must be a positive integer")
        available = field.get("availableFor")
        if isinstance(available, str):
            available = [part.strip() for part in available.split(",")]
        if not isinstance(available, list) or not available:
            raise ConfigError(f"{where}: availableFor must be a list of {', '.join(CF_LABELS)}")
        labels = []
        for item in available:
            label = _ALIASES.get(str(item).strip().lower())
            if label is None:
                raise ConfigError(f"{where}: unknown availableFor {item!r} "
                                  f"(expected {', '.join(CF_LABELS)})")
            labels.append(label)
        rows.append((field_id, field["name"], json.dumps(labels)))
    return rows
