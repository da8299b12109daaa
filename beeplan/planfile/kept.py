"""``apply PATH --max-calls N`` in slices: the plan of the first slice, kept for the next.

A sliced apply of manifests used to plan again from a full read on each run,
and that read grows with what the earlier slices created (an adoption of
5000 people never finished). So a run that applies only part of its plan
keeps that plan in beeplan's cache dir, as ``plan -o`` would write it (per
account and manifests digest, private like the ledger), and the next
``apply`` of the same manifests continues it exactly as ``apply PLANFILE``
does: what earlier slices applied is skipped (``progress.SavedProgress``),
and only what the next slice touches is re-read for freshness (the account,
the manifests digest, the seal and every action verified as for any saved
plan). Manifests that changed since have another digest, so they are planned
again from a full read; so is a kept plan found stale or unreadable (said,
never an error: keeping it only saves reads). Once every action is applied
the kept plan goes, and the next run plans from a full read again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..localfiles import cachefile
from ..localfiles.cachefile import cache_dir
from ..platforms.base import Client
from .verify import manifest_digest

log = logging.getLogger("beeplan.apply")


@dataclass(frozen=True)
class KeptPlan:
    """Where a sliced apply of these manifests with this token keeps its plan."""

    path: Path

    @classmethod
    def of(
        cls, client: Client, paths: Sequence[Path], variables: Mapping[str, str | None]
    ) -> KeptPlan:
        digest = manifest_digest(list(paths), variables)[:24]
        return cls(cache_dir() / "slices" / f"{client.account_key}-manifests-{digest}.plan.json")

    def exists(self) -> bool:
        return self.path.is_file()

    def keep(self, text: str) -> None:
        """Write the plan (a saved plan's JSON), private and replaced whole."""
        cachefile.write_text(self.path, text)

    def drop(self, why: str) -> None:
        """Forget the kept plan (its progress is keyed by its content: it goes unused)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("could not remove the kept plan %s (%s): %s", self.path, why, exc)
            return
        log.info("removed the kept plan %s: %s", self.path, why)
