"""The `sandbox` commands."""

from __future__ import annotations

import click

from ..errors import BeeplanError


COMMANDS = []
