"""Every shipped stack, every case, checked as users do: terraform, checkov, no credentials.

``terraform validate`` with the real AWS provider from the offline mirror, ``terraform fmt
-check``, checkov with 0 failed checks, and no literal credential in the output. A new
stack gets all of it by one entry in :mod:`tests.stacks.shipped`.
"""

from __future__ import annotations

import pytest

from tests.stacks.shipped import ALL_CASES, CHECKOV_CASES, CREDENTIAL_RES, STACKS, RenderedCase
from tests.tfhelpers import (
    failed_checks,
    requires_checkov,
    requires_terraform,
    run_checkov,
    run_terraform,
    terraform_env,
)

Shipped = dict[str, dict[str, RenderedCase]]
IDS = [f"{stack}/{case}" for stack, case in ALL_CASES]


@pytest.fixture(scope="session")
def tf_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Mirror-only providers, one plugin cache for the session (init links, never copies)."""
    folder = tmp_path_factory.mktemp("terraform")
    cache = folder / "plugin-cache"
    cache.mkdir()
    return terraform_env(folder, TF_PLUGIN_CACHE_DIR=str(cache))


def test_every_shipped_stack_has_cases() -> None:
    assert sorted(STACKS) == ["catalog-api", "event-pipeline"]
    for stack in STACKS.values():
        assert set(stack.checkov_cases) <= set(stack.cases)
        assert {"dev", "prod"} <= set(stack.cases)


@pytest.mark.terraform
@requires_terraform
@pytest.mark.parametrize(("stack", "case"), ALL_CASES, ids=IDS)
def test_terraform_validate(
    shipped: Shipped, tf_env: dict[str, str], stack: str, case: str
) -> None:
    rendered = shipped[stack][case]
    for module in rendered.modules:  # each component is a root module of its own
        data_dir = rendered.data_dir / module.relative_to(rendered.root)
        env = {**tf_env, "TF_DATA_DIR": str(data_dir)}
        proc = run_terraform(["init", "-backend=false", "-input=false"], module, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        proc = run_terraform(["validate"], module, env)
        assert proc.returncode == 0, f"{module}: {proc.stdout}{proc.stderr}"
        assert "Success!" in proc.stdout


@pytest.mark.terraform
@requires_terraform
@pytest.mark.parametrize(("stack", "case"), ALL_CASES, ids=IDS)
def test_terraform_fmt_finds_nothing_to_change(
    shipped: Shipped, tf_env: dict[str, str], stack: str, case: str
) -> None:
    root = shipped[stack][case].root
    proc = run_terraform(["fmt", "-check", "-recursive", "-diff"], root, tf_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@requires_checkov
@pytest.mark.parametrize(
    ("stack", "case"), CHECKOV_CASES, ids=[f"{s}/{c}" for s, c in CHECKOV_CASES]
)
def test_checkov_finds_no_failed_check(shipped: Shipped, stack: str, case: str) -> None:
    report = run_checkov(shipped[stack][case].root)
    summary = report["summary"]
    assert isinstance(summary, dict)
    assert summary["failed"] == 0, "checkov failed checks:\n" + failed_checks(report)
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= STACKS[stack].min_resources  # it really read it
    assert summary["passed"] >= STACKS[stack].min_passed


@pytest.mark.parametrize(("stack", "case"), ALL_CASES, ids=IDS)
def test_no_literal_credentials(shipped: Shipped, stack: str, case: str) -> None:
    for file, text in shipped[stack][case].files.items():
        for pattern in CREDENTIAL_RES:
            found = pattern.search(text)
            assert found is None, f"{file}: {found.group(0) if found else ''}"
