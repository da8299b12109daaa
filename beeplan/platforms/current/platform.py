"""Beebole's current platform (GraphQL) as a ``Platform``: what the registry hands the core.

Its entities are not the model's v2 kinds (project categories and trees, tags,
roles...), so the v2-shaped fields of ``Platform`` (reader, action factory,
listing services) refuse politely; the current platform's own plan, apply and
import are reached through the fields added for it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from ...errors import ConfigError
from ..base import Cost, ImportedAccount, Platform

# Here, not in .client: the registry imports this module for every endpoint (to ask
# _serves), and .client imports graphql-core, 0.07 s of every v2 command's start.
DEFAULT_ENDPOINT = "https://app.beebole.com"
GRAPHQL_PATH = "/graphql"


def _client(*args: Any, **kwargs: Any) -> Any:
    from .client import CurrentClient  # imported on use: see above

    return CurrentClient(*args, **kwargs)


def _sandbox(db: str, **options: Any) -> Any:
    # Imported on use: werkzeug and graphql-core are only needed when a sandbox runs.
    from .sandbox.server import CurrentSandboxServer

    return CurrentSandboxServer(db, **options)


def _import_account(client: Any) -> ImportedAccount:
    # Imported on use: only 'beeplan import' needs the manifest writer.
    from .importer import read_and_import

    return read_and_import(client)


def _serves(endpoint: str) -> bool:
    # The GraphQL API is reached at /graphql (the reference's
    # https://app.beebole.com/graphql); the v2 API at /api/v2.
    return urlsplit(endpoint).path.rstrip("/").endswith(GRAPHQL_PATH)


@functools.lru_cache(maxsize=1)
def _engine() -> Any:
    # Imported on use: the planner and apply load only for a current set. One engine per
    # run: it keeps the read a plan was made from for the apply that follows.
    from .engine import CurrentEngine

    return CurrentEngine()


class _LazyEngine:
    """The engine, built on first use (the registry imports this module for every endpoint)."""

    def load(self, *args: Any) -> Any:
        return _engine().load(*args)

    def plan(self, *args: Any) -> Any:
        return _engine().plan(*args)

    def plan_with(self, *args: Any) -> Any:
        return _engine().plan_with(*args)

    def apply_requests(self, *args: Any) -> Any:
        return _engine().apply_requests(*args)

    def usage(self, *args: Any, **kwargs: Any) -> Any:
        return _engine().usage(*args, **kwargs)

    def diff(self, *args: Any) -> Any:
        return _engine().diff(*args)

    def graph(self, *args: Any, **kwargs: Any) -> Any:
        return _engine().graph(*args, **kwargs)

    def apply(self, *args: Any) -> Any:
        return _engine().apply(*args)

    def verify_saved(self, *args: Any) -> Any:
        return _engine().verify_saved(*args)


def _v2_only(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise ConfigError("this step is API v2's; the current platform does not use it")


def _answer_problem(service: str, answer: Any) -> str | None:
    # Every GraphQL answer is checked against the document that asked for it,
    # inside the client (answers.believe); nothing is left to check after.
    return None


PLATFORM = Platform(
    name="current",
    default_endpoint=DEFAULT_ENDPOINT + GRAPHQL_PATH,
    manifest_schema=Path(__file__).resolve().parent / "manifest.schema.json",
    identity_field="External ID",
    cost=Cost(requests=0, kilobytes=0),  # no daily quota: requests and bytes are counted
    client=_client,
    reader=_v2_only,
    listing_service={},
    build_action=_v2_only,
    answer_problem=_answer_problem,
    sandbox=_sandbox,
    serves=_serves,
    import_account=_import_account,
    engine=_LazyEngine(),
)
