"""Platforms beeplan manages (this file only makes the package importable)."""
