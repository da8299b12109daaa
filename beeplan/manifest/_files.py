"""Which files a manifest path stands for, and reading them without trusting the tree.

A manifest folder usually comes from a pull request, so anything in it may
be hostile: a ``*.yaml`` symlink to ``~/.ssh/id_rsa`` or ``/dev/zero``, a
FIFO that blocks forever, a 2 GB file, a directory symlink looping onto its
parent. The rules:

- The *boundary* is the git work tree holding the manifest root (the nearest
  ancestor with a ``.git``), else the manifest root itself (for a file: its
  folder). Only files whose real path stays inside it are read.
- A symlink (file or directory) whose target leaves the boundary is refused,
  never followed: its target is neither opened nor named in the message, so
  nothing of it can reach an annotation or a pull-request comment.
- Directory symlinks inside the boundary are followed; a real directory is
  read once (a loop, or two links to one folder, is an error that names both).
- Only regular files are read: a FIFO, a socket or a device is refused
  without being opened for reading.
- A file over ``MAX_FILE_BYTES`` is refused before it is read.

Every problem is collected; ``ManifestError`` carries them all.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import ManifestError, Problem

# 5 MiB: far above any real manifest file (they are written by hand, or one per
# company by import), far below what would strain memory or a CI log.
MAX_FILE_BYTES = 5 * 1024 * 1024
SUFFIXES = (".yaml", ".yml")
MAX_FOLDER_DEPTH = 64  # folders below the manifest root: far more than any layout needs

_INTO_GIT = ("is a symlink into the repository's .git folder: beeplan does not follow it "
             "(it holds credentials and hooks, never manifests); remove the symlink")
_OUTSIDE = ("is a symlink that leads outside {where}: beeplan does not follow it "
            "(keep what the manifests read inside {where}, or copy it in)")


@dataclass(frozen=True)
class Boundary:
    """The real directory every manifest file must stay in, and how to name it."""

    real: str
    label: str  # "the git work tree" or "the manifest folder": for messages

    def refusal(self, real: str) -> str | None:
        """Why a symlink resolving to ``real`` is not followed; None when it may be."""
        if real != self.real and not real.startswith(self.real.rstrip(os.sep) + os.sep):
            if self.label == "the manifest folder":  # no git: say why the bound is so tight
                return _OUTSIDE.format(where=self.label)[:-1] + (
                    "; no git repository holds this folder: inside one, links anywhere in "
                    "its work tree are followed)")
            return _OUTSIDE.format(where=self.label)
        # .git/ is inside the work tree but holds credentials (actions/checkout
        # keeps the job's token in .git/config) and hooks: never manifest data.
        if ".git" in Path(real[len(self.real):]).parts:
            return _INTO_GIT
        return None


def _git_work_tree(start: Path) -> Path | None:
    """The nearest ancestor of ``start`` (itself included) holding a ``.git`` entry."""
    for folder in (start, *start.parents):
        if os.path.lexists(folder / ".git"):  # a folder, or a file in a linked worktree
            return folder
    return None


def boundary_of(path: str | Path) -> Boundary:
    """Where the manifests at ``path`` may read files from (see the module's rules)."""
    given = Path(os.path.abspath(path))
    folder = given if os.path.isdir(given) else given.parent
    tree = _git_work_tree(folder)
    if tree is not None:
        return Boundary(os.path.realpath(tree), "the git work tree")
    return Boundary(os.path.realpath(folder), "the manifest folder")


def _regular_problem(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    what = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a directory" if stat.S_ISDIR(mode)
            else "a special file")
    return f"is {what}, not a regular file: a manifest is a plain YAML file; remove it"


def _size_problem(size: int) -> str | None:
    if size <= MAX_FILE_BYTES:
        return None
    return (f"is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte (5 MiB) limit for one "
            "manifest file: split it into several files")


class _Walker:
    def __init__(self, root: Path, boundary: Boundary) -> None:
        self.root = root
        self.boundary = boundary
        self.problems: list[Problem] = []
        self.found: list[Path] = []
        self.seen: dict[str, Path] = {}  # real directory -> the path it was first read as

    def refuse(self, path: Path, message: str) -> None:
        self.problems.append(Problem(str(path), None, "", message))

    def folder(self, shown: Path, real: str, ancestors: tuple[str, ...] = ()) -> None:
        if real in ancestors:
            self.refuse(shown, "is a symlink to a folder that contains it (a loop): "
                        "remove the symlink")
            return
        if len(ancestors) > MAX_FOLDER_DEPTH:  # the walk recurses: no RecursionError
            self.refuse(shown, f"is nested more than {MAX_FOLDER_DEPTH} folders deep below "
                        "the manifest path: flatten the layout")
            return
        first = self.seen.get(real)
        if first is not None:
            self.refuse(shown, f"is the same folder as {first} (a symlink leads there): "
                        "a manifest set reads each folder once; remove the symlink")
            return
        self.seen[real] = shown
        try:
            entries = sorted(os.scandir(shown), key=lambda e: e.name)
        except OSError as exc:
            self.refuse(shown, f"cannot list this folder: {exc.strerror or exc}")
            return
        inner = (*ancestors, real)
        for entry in entries:
            if entry.name.startswith("."):
                continue  # .git/, .github/, editor files: never part of the set
            self.entry(Path(entry.path), entry, inner)

    def entry(self, path: Path, entry: os.DirEntry[str], ancestors: tuple[str, ...]) -> None:
        is_yaml = entry.name.endswith(SUFFIXES)
        try:
            if entry.is_symlink():
                self.symlink(path, is_yaml, ancestors)
            elif entry.is_dir(follow_symlinks=False):
                self.folder(path, os.path.realpath(path), ancestors)
            elif is_yaml:
                self.file(path, entry.stat(follow_symlinks=False))
        except OSError as exc:
            self.refuse(path, f"cannot read: {exc.strerror or exc}")

    def symlink(self, path: Path, is_yaml: bool, ancestors: tuple[str, ...]) -> None:
        real = os.path.realpath(path)  # resolves names only: reads no file
        refusal = self.boundary.refusal(real)
        inside = refusal is None
        try:
            target: os.stat_result | None = os.stat(path)  # metadata: is it a folder?
        except OSError:
            target = None
        is_dir = target is not None and stat.S_ISDIR(target.st_mode)
        if not inside:
            # Links that are not part of the set (README.md -> ...) are no concern.
            if is_yaml or is_dir:
                self.refuse(path, refusal or "")
        elif target is None:
            if is_yaml:
                self.refuse(path, "is a symlink to nothing (its target does not exist): "
                            "fix it or remove it")
        elif is_dir:
            self.folder(path, real, ancestors)
        elif is_yaml:
            self.file(path, target)

    def file(self, path: Path, info: os.stat_result) -> None:
        problem = _regular_problem(info.st_mode) or _size_problem(info.st_size)
        if problem:
            self.refuse(path, problem)
        else:
            self.found.append(path)


def manifest_files(path: str | Path, boundary: Boundary | None = None) -> list[Path]:
    """The files a manifest path stands for, in load order (sorted by path).

    Raises ``ManifestError`` with every file the rules above refuse.
    """
    root = Path(path)
    bound = boundary or boundary_of(root)
    if not os.path.lexists(root):
        raise ManifestError([Problem(str(root), None, "", "no such file or directory")])
    real = os.path.realpath(root)
    refusal = bound.refusal(real)
    if refusal is not None:
        raise ManifestError([Problem(str(root), None, "", refusal)])
    walker = _Walker(root, bound)
    try:
        info = os.stat(root)
    except OSError as exc:
        why = f"cannot read: {exc.strerror or exc}"
        raise ManifestError([Problem(str(root), None, "", why)]) from None
    if stat.S_ISDIR(info.st_mode):
        walker.folder(root, real)
        if not walker.found and not walker.problems:
            raise ManifestError([Problem(str(root), None, "", "no *.yaml or *.yml files here")])
    else:
        walker.file(root, info)
    if walker.problems:
        raise ManifestError(walker.problems)
    walker.found.sort(key=lambda p: p.parts)
    return walker.found


def read_manifest(file: Path, boundary: Boundary) -> bytes:
    """The bytes of one file ``manifest_files`` returned, checked again as it is opened.

    Opened non-blocking and without following a last symlink (of its real
    path), then checked on the open descriptor: a file swapped for a FIFO or
    a bigger file after the walk is still refused. Raises ``OSError`` or
    ``ValueError`` (with the sentence to show) on refusal.
    """
    real = os.path.realpath(file)
    refusal = boundary.refusal(real)
    if refusal is not None:
        raise ValueError(refusal)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(real, flags | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        problem = _regular_problem(info.st_mode) or _size_problem(info.st_size)
        if problem:
            raise ValueError(problem)
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:  # it grew since: still over
        raise ValueError(_size_problem(len(data)) or "")
    return data
