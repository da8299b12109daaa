"""Apply on the current platform: a plan's actions as aliased mutation batches, layer by layer.

The contract between the current platform's planner (``plan.py``) and this module:

- An ``Action`` (``beeplan.planner.Action``) is one mutation: ``service`` is the
  mutation field (``addProject``, ``archivePerson``...), ``payload`` its arguments.
  A payload value ``{"$ref": ACTION_ID}`` stands for the id the create action
  ACTION_ID returns (known only once that layer ran); ``depends_on`` names it.
- ``target`` is ``Ref(kind, xid, id)`` with the platform's kind names
  (``kinds.py``) and its opaque text ids.
- A create (``op == "create"``) also stores the entity's xid in the External ID
  custom field (``addCustomFieldValue``), in this same apply; before re-creating
  after an unknown outcome or an interrupted run, the entity is looked up (by the
  field, or as the one entity that appeared since with that name and parent and no
  External ID), so a retry never duplicates.
- Removals archive (``op == "deactivate"``: ``archiveProject``...), last.

Actions whose dependencies have all run form a layer; a layer's mutations go out
in documents of ``batch_size`` aliases (``client.mutate``), at most
``parallelism`` documents at a time. A failed alias fails its action and skips
what depends on it, never the rest of its batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...applier import Outcome, ProgressCallback
from ...localfiles.journal import Journal
from ...planner import Action
from .client import CurrentClient


def apply_actions(
    client: CurrentClient,
    actions: Sequence[Action],
    *,
    xid_field: str,
    batch_size: int,
    parallelism: int = 4,
    journal: Journal | None = None,
    progress: ProgressCallback | None = None,
) -> Outcome:
    """Run ``actions`` (a plan's, in any order) and say what was applied, failed, skipped."""
    raise NotImplementedError("the current platform's apply is being written")
