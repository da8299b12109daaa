"""Beebole API v2 as a ``Platform``: what the registry hands the core."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..base import Cost, Platform
from . import answers
from .actions import build_action
from .check import CHECK_CALLS
from .client import DAILY_KB, DAILY_REQUESTS, DEFAULT_ENDPOINT, BeeboleClient
from .hours import HOURS_EXPORT
from .live import LISTING_SERVICE, LiveReader


def _sandbox(db: str, **options: Any) -> Any:
    # Imported on use: werkzeug is only needed when a sandbox runs.
    from .sandbox.server import SandboxServer

    return SandboxServer(db, **options)


def _serves(endpoint: str) -> bool:
    # API v2 is the platform of any endpoint that no other platform claims
    # (the registry asks it last), as when it was the only one.
    return True


PLATFORM = Platform(
    name="v2",
    default_endpoint=DEFAULT_ENDPOINT,
    manifest_schema=Path(__file__).resolve().parents[2] / "schemas" / "manifest.schema.json",
    identity_field="xid",
    cost=Cost(requests=DAILY_REQUESTS, kilobytes=DAILY_KB),
    client=BeeboleClient,
    reader=LiveReader,
    listing_service=LISTING_SERVICE,
    build_action=build_action,
    answer_problem=answers.problem,
    sandbox=_sandbox,
    serves=_serves,
    check_calls=CHECK_CALLS,
    hours_export=HOURS_EXPORT,
)
