"""Beebole's current platform (GraphQL API)."""
