"""The shipped stacks rendered once per session, for every test of tests/stacks/."""

from __future__ import annotations

import pytest

from tests.stacks.shipped import STACKS, RenderedCase, render_stack


@pytest.fixture(scope="session")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, RenderedCase]]:
    """stack -> case -> its render (each in a folder with nothing else in it)."""
    base = tmp_path_factory.mktemp("shipped")
    return {name: render_stack(stack, base / name) for name, stack in STACKS.items()}
