"""Render a plan as text, JSON or Markdown. Pure functions from values to strings."""

from __future__ import annotations

from .jsonplan import plan_from_json, plan_to_json
from .markdown import render_markdown
from .text import render_text

__all__ = ["plan_from_json", "plan_to_json", "render_markdown", "render_text", "Budget"]

from .common import Budget  # noqa: E402
