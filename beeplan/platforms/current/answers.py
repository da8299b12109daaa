"""What a believable answer of the current platform looks like: the shape the document asked.

An answer is ``{data, errors, permissionsErrors}``. HTTP 200 proves nothing (the
API answers a refused key with 200 too; a portal or proxy answers pages with
it): an answer is believed only when every field the document selected is in
``data``, or withheld by name in ``permissionsErrors``. A withheld field is left
out and reported, never read as empty: a list the key may not read is not an
account without entities.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, SelectionSetNode, parse

from ...errors import AnswerError, ApiError, AuthError, TransportError
from ...safetext import capped

if TYPE_CHECKING:
    from .client import Document


@dataclass(frozen=True)
class Answer:
    """A believed answer: ``data`` by alias; what was withheld; which alias failed, if any."""

    data: Mapping[str, Any]
    denied: tuple[str, ...] = ()  # paths left out of data ("a0.email"), as permissionsErrors said
    permissions: tuple[str, ...] = ()  # the permissionsErrors entries, as the API sent them
    failed_alias: str | None = None
    failure: str = ""


def believe(doc: Document, status: int, headers: Mapping[str, str], content: bytes, *,
            allow_denied: bool, partial: bool = False) -> Answer:
    """The answer to ``doc``, or an error saying in one line why it cannot be believed.

    ``partial`` (mutations): an error on one alias is returned as ``failed_alias``
    rather than raised, so the caller can say which aliases ran.
    """
    # Deferred to avoid an import cycle: the client's error types live beside it.
    from .client import DocumentError

    name = doc.name
    answer = _decode(content)
    errors = _errors(answer)
    messages = [m for m, _ in errors]
    _refuse_by_status(name, status, messages)
    if answer is _NOT_JSON:
        kind = headers.get("Content-Type", "").split(";")[0].strip()
        kind = kind if kind.isprintable() and len(kind) < 60 else "unknown type"
        raise AnswerError(name, f"the answer is not JSON ({kind or 'no Content-Type'}, "
                          f"{len(content)} bytes): a proxy or portal page, or a truncated "
                          "answer?")
    if not isinstance(answer, Mapping):
        raise AnswerError(name, "the answer is not a JSON object")
    if status != 200:
        raise ApiError(name, messages[0] if messages else "unexpected answer", status)
    if "data" not in answer:
        raise AnswerError(name, 'the answer has no "data"')
    if "errors" in answer and not errors:
        raise AnswerError(name, '"errors" is not a list of {"message": ...} objects')
    permissions = answer.get("permissionsErrors") or []
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise AnswerError(name, '"permissionsErrors" is not a list of strings')
    data = answer["data"]
    failed: str | None = None
    failure = ""
    if errors:
        located = [(m, path) for m, path in errors if path and path[0] in doc.aliases]
        if not located:  # no alias named: the document itself was refused, nothing ran
            shown = "; ".join(capped(m, 160) for m in messages[:3])
            raise DocumentError(name, f"the API refused the document: {shown}")
        message, path = located[0]
        failed = str(path[0])
        failure = f"{_where(path)}: {capped(message, 300)}"
        if not partial:
            raise ApiError(name, failure)
        if data is None:
            return Answer({}, (), tuple(permissions), failed, failure)
    if not isinstance(data, Mapping):
        raise AnswerError(name, '"data" is not an object')
    denied = _denied(doc, data, failed, permissions, allow_denied=allow_denied)
    return Answer(data, denied, tuple(permissions), failed, failure)


def _denied(doc: Document, data: Mapping[str, Any], failed: str | None, permissions: list[str],
            *, allow_denied: bool) -> tuple[str, ...]:
    """The fields of ``doc`` missing from ``data`` that permissionsErrors withholds; an
    error for any other missing field, and for a withheld one unless ``allow_denied``."""
    from .client import PermissionDeniedError  # deferred: see believe

    name = doc.name
    try:
        missing = _missing(doc, data, skip=failed)
    except ValueError as exc:
        raise AnswerError(name, str(exc)) from None
    denied = tuple(p for p, f in missing if _withheld(f, permissions))
    unexplained = [p for p, _ in missing if p not in denied]
    if unexplained:
        raise AnswerError(name, f"{unexplained[0]} is missing from the answer"
                          + (f" (and {len(unexplained) - 1} more)" if len(unexplained) > 1
                             else "") + "; nothing is read as empty")
    if denied and not allow_denied:
        raise PermissionDeniedError(
            name, f"the key may not read {', '.join(denied[:3])}"
            + (f" (and {len(denied) - 3} more)" if len(denied) > 3 else "")
            + f" (permissionsErrors: {capped(', '.join(permissions), 160)}); nothing was "
            "read as empty: give the key's role access to it")
    return denied


def _refuse_by_status(name: str, status: int, messages: list[str]) -> None:
    """Refuses what the status or the errors' messages alone say cannot be read: an
    inactive account, a refused key, a server error."""
    from .client import InactiveAccountError  # deferred: see believe

    if status == 402 or "AccountIsInactive" in messages:
        raise InactiveAccountError(name, "AccountIsInactive: the account's subscription is "
                                   "inactive, so the API refuses its key; reactivate it in "
                                   "Beebole", status)
    key_errors = [m for m in messages if m.startswith("APIKeyError")]
    if key_errors or status in (401, 403):
        reason = key_errors[0] if key_errors else "the API key was refused"
        raise AuthError(name, f"{reason}: check BEEBOLE_TOKEN or the token file (an API key "
                        "of the current platform, from Beebole's settings)", status)
    if status >= 500:
        raise TransportError(name, f"HTTP {status}" + (f": {capped(messages[0], 120)}"
                                                      if messages else ""))


def _withheld(field_name: str, permissions: list[str]) -> bool:
    """Whether ``permissionsErrors`` names the field ``field_name`` (its name, not alias).

    Entries are ``Type.field`` or ``Type.*``; the answer carries no type names, so a
    field is withheld when some entry names that field, or any whole type ("*").
    """
    for entry in permissions:
        _, _, named = entry.rpartition(".")
        if named in (field_name, "*"):
            return True
    return False


def _missing(doc: Document, data: Mapping[str, Any], *,
             skip: str | None) -> list[tuple[str, str]]:
    """(path, field name) of each selected field absent from ``data``: the path as the
    answer spells it (``a0.projects[2].name``), the name as the schema does."""
    try:
        parsed = parse(doc.text, no_location=True)
    except GraphQLError as exc:  # beeplan built it: a bug, said plainly
        raise AnswerError(doc.name,
                          f"beeplan's own document does not parse: {exc.message}") from None
    operation = parsed.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    found: list[tuple[str, str]] = []
    for node in operation.selection_set.selections:
        assert isinstance(node, FieldNode)
        key = node.alias.value if node.alias else node.name.value
        if key == skip:
            continue
        if key not in data:
            found.append((key, node.name.value))
        else:
            _walk(node.selection_set, data[key], key, found)
    return found


def _walk(selection: SelectionSetNode | None, value: Any, where: str,
          found: list[tuple[str, str]]) -> None:
    if selection is None or value is None:
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _walk(selection, item, f"{where}[{i}]", found)
        return
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} is not an object")
    for node in selection.selections:
        if not isinstance(node, FieldNode):
            continue  # beeplan sends no fragments
        key = node.alias.value if node.alias else node.name.value
        if key not in value:
            found.append((f"{where}.{key}", node.name.value))
        else:
            _walk(node.selection_set, value[key], f"{where}.{key}", found)


def _where(path: list[Any]) -> str:
    return ".".join(str(p) for p in path)


def _errors(answer: Any) -> list[tuple[str, list[Any]]]:
    """(message, path) of each well-formed entry of ``errors``; [] if there are none."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("errors"), list):
        return []
    out = []
    for error in answer["errors"]:
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            path = error.get("path")
            out.append((error["message"], path if isinstance(path, list) else []))
    return out


_NOT_JSON = object()


def _decode(content: bytes) -> Any:
    try:
        return json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _NOT_JSON

