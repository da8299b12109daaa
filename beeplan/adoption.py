"""``apply MANIFESTS --max-calls N`` over several days: continue the plan, never re-read it all.

An adoption larger than a day's quota used to re-plan every day with a full
read of the account, and the reads grew with what earlier slices created
(issue 24: at 5000 people, 34% applied after 14 days). Now the first day's
plan is kept in the cache dir (per token hash, endpoint, manifest path and
manifest digest) with the progress of its slices (``sliced.SavedProgress``),
and the next run of the same command with the same manifests applies its
next slice as ``apply plan.json --max-calls N`` would: it reads only the
freshness of what that slice touches. Any change to the manifests makes a
new key, so a new full plan. Once every action is applied, the kept plan is
removed and the next run plans in full, which verifies the account.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from . import cachefile
from .client import BeeboleClient, cache_dir
from .planfile import manifest_digest
from .planner import Plan
from .render import Budget, plan_to_json
from .sliced import SavedProgress

log = logging.getLogger("beeplan.apply")


def adoption_file(client: BeeboleClient, manifests: Path, endpoint: str) -> Path:
    """Where the plan of an unfinished sliced apply of these manifests is kept."""
    key = f"{endpoint}\n{manifests.resolve()}\n{manifest_digest(manifests)}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return cache_dir() / "adoption" / f"{client.account_key}-{digest}.json"


def keep(path: Path, plan: Plan, budget: Budget, endpoint: str) -> None:
    """Keep the whole plan (0600, like the ledger: it describes the account)."""
    cachefile.write_json(path, json.loads(plan_to_json(plan, budget, endpoint)), indent=1)


def forget(client: BeeboleClient, path: Path) -> None:
    """Remove a kept plan and its slice progress."""
    if path.exists():
        SavedProgress.of(client, path).path.unlink(missing_ok=True)
    path.unlink(missing_ok=True)
