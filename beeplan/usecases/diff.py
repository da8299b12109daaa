"""``beeplan diff``: two manifest sets compared offline (no token, no API call)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..setdiff import SetDiff


def compare_sets(old_path: Path, new_path: Path) -> SetDiff:
    """What NEW changes against OLD: the calls apply would make, settings, released keys."""
    # Imported on use, as before: the command line starts without the manifest loader.
    from ..changed import load_manifest_set
    from ..manifest import load
    from ..setdiff import diff_sets

    # A base folder holding no YAML yet (.gitkeep, a README) is the empty set.
    old, new = load_manifest_set(old_path), load(new_path)
    return diff_sets(old, new)
