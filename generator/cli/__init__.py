"""The click application: options declared once, one call into the core per command, console output.

The console script ``tfgen`` and ``python -m generator`` both enter through :func:`main`.
"""

from __future__ import annotations

from generator.cli.app import main

__all__ = ["main"]
