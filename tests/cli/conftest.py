"""The CLI's own tests run on a few shipped templates as one root module.

What they test (argument parsing, reports, exit codes, workers, the one-root output layout)
does not depend on the stack; the shipped stack with its components is rendered through
the CLI by tests/stacks/ and tests/e2e/, and components by tests/components/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import keep_one_root


@pytest.fixture
def project(project: Path) -> Path:
    """The repository's environments/ and templates/, a few templates, one root module."""
    return keep_one_root(project)
