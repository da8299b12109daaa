"""A local emulator of the Beebole API v2 over real HTTP (see README.md beside this file)."""

from __future__ import annotations

from .server import SandboxServer

__all__ = ["SandboxServer"]
