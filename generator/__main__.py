"""``python -m generator`` runs the tfgen CLI."""

from __future__ import annotations

from generator.cli.app import main

if __name__ == "__main__":
    main()
