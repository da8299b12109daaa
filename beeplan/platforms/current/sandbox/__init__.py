"""A local emulator of Beebole's current platform (GraphQL API). See README.md."""

from .server import CurrentSandboxServer

__all__ = ["CurrentSandboxServer"]
