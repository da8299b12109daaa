"""What a use case may show or ask while it runs, without knowing the terminal."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol


class Console(Protocol):
    quiet: bool  # -q: only errors

    @property
    def color(self) -> bool:
        """ANSI colour on stdout."""

    @property
    def show_progress(self) -> bool:
        """Progress lines on stderr (a terminal, or -v)."""

    def say(self, text: str, *, nl: bool = True, err: bool = False) -> None:
        """Print ``text`` (already escaped) on stdout, or stderr with ``err``."""

    def can_ask(self) -> bool:
        """Is there a terminal to ask a question on?"""

    def ask(self, question: str) -> bool:
        """Ask a yes/no question on the terminal (default no)."""

    def open_client(self, endpoint: str,
                    written_for: str | None = None) -> AbstractContextManager[Any]:
        """A client for ``endpoint`` (the CLI's token options decide the token); a
        ``sandbox:FILE`` speaks ``written_for``, the manifests' platform (default API v2)."""

    def read_progress(self, shown: bool) -> Any:
        """Progress of reading the account (``done()`` when over), on stderr if ``shown``."""

    def export_progress(self, shown: bool) -> Any:
        """Progress of the hours export jobs, on stderr if ``shown``."""

    def apply_progress(self) -> Any:
        """Progress of the apply, action by action."""
