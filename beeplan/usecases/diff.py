"""``beeplan diff``: two manifest sets compared offline (no token, no API call)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..setdiff import SetDiff


def compare_sets(old_path: Path, new_path: Path) -> SetDiff:
    """What NEW changes against OLD: the calls apply would make, settings, released keys.

    Two sets of a platform with its own vocabulary (the current platform) are compared
    by that platform's engine; a set of each platform is refused, naming both.
    """
    # Imported on use, as before: the command line starts without the manifest loader.
    from ..changed import load_manifest_set
    from ..errors import ConfigError
    from ..manifest._written import WrittenForOther
    from ..setdiff import diff_sets
    from .steps import OtherSet, load_offline, load_other_set

    new = load_offline(new_path)
    if isinstance(new, OtherSet):
        return new.engine.diff(load_other_set(old_path, new), new.desired)
    # A base folder holding no YAML yet (.gitkeep, a README) is the empty set.
    try:
        old = load_manifest_set(old_path)
    except WrittenForOther as other:
        raise ConfigError(
            f"{other.declared.where}: {old_path} is written for Beebole's "
            f"{other.declared.platform} platform and {new_path} for API v2: diff compares two "
            "sets of one platform ('beeplan convert' writes a v2 set for the current "
            "platform)") from None
    return diff_sets(old, new)
