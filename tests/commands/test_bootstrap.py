"""tfgen bootstrap: the state bucket (and lock table) module, its rules, and a real apply."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from generator.cli.app import cli
from generator.commands.bootstrap import PACKAGE_TEMPLATES, verify_bootstrap
from generator.errors import EXIT_INPUT, EXIT_VERIFY, VerifyError
from generator.project import load_project
from generator.verify.rules import decode_hcl_string, parse_hcl
from tests.conftest import GOLDEN_ENVIRON, ROOT
from tests.moto_server import FAKE_CREDENTIALS, MotoServer, aws_subprocess_env, running_moto_server
from tests.tfhelpers import requires_terraform, run_terraform, terraform_env

LOCK_TABLE = "catalog-tfstate-locks"
# dev and staging keep their state in one bucket: its module is out/_bootstrap/<bucket>/.
NONPROD = "catalog-tfstate-nonprod"
# Applied against the emulator: everything but the lifecycle configuration, for which
# provider 5.100 waits about a minute of fixed S3 consistency delays after creating it
# (checked by terraform validate and verify_bootstrap instead). The bucket policy denying
# plain http is not rendered for a store on loopback over http (the emulator's).
TARGETS = [
    f"-target={address}"
    for address in (
        "aws_s3_bucket.state",
        "aws_s3_bucket_ownership_controls.state",
        "aws_s3_bucket_versioning.state",
        "aws_s3_bucket_server_side_encryption_configuration.state",
        "aws_s3_bucket_public_access_block.state",
        "aws_dynamodb_table.lock",
    )
]


def invoke(runner: CliRunner, project: Path, *args: str, env: dict[str, Any] | None = None) -> Any:
    return runner.invoke(
        cli, [*args, "--project-dir", str(project)], env={**GOLDEN_ENVIRON, **(env or {})}
    )


def resources(folder: Path, kind: str = "resource") -> dict[str, dict[str, Any]]:
    """``{type: body}`` of every resource (or data source) in a rendered folder."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.tf")):
        for entry in parse_hcl(path.name, path.read_text()).get(kind, []):
            for label, named in entry.items():
                found[label.strip('"')] = next(iter(named.values()))
    return found


def literal(raw: Any) -> str:
    return decode_hcl_string(raw)


@pytest.fixture
def bootstrapped(runner: CliRunner, project: Path) -> Path:
    result = invoke(runner, project, "bootstrap", "dev")
    assert result.exit_code == 0, result.stderr
    return project / "out" / "_bootstrap" / NONPROD


def test_bucket_is_named_exactly_as_the_backend_names_it(
    runner: CliRunner, project: Path, bootstrapped: Path
) -> None:
    assert invoke(runner, project, "render", "dev").exit_code == 0
    found = resources(bootstrapped)
    backends = sorted((project / "out/dev").glob("*/backend.hcl"))  # one per component
    assert [b.parent.name for b in backends] == ["app", "data", "network"]
    for path in backends:
        backend = parse_hcl("backend.hcl", path.read_text())
        assert literal(found["aws_s3_bucket"]["bucket"]) == literal(backend["bucket"])
    versioning = found["aws_s3_bucket_versioning"]["versioning_configuration"][0]
    assert literal(versioning["status"]) == "Enabled"
    block = found["aws_s3_bucket_public_access_block"]
    assert all(block[k] is True for k in ("block_public_acls", "restrict_public_buckets"))
    assert "aws_s3_bucket_server_side_encryption_configuration" in found
    assert "aws_s3_bucket_lifecycle_configuration" in found
    assert "aws_s3_bucket_policy" in found
    condition = resources(bootstrapped, "data")["aws_iam_policy_document"]["statement"][0]
    assert literal(condition["condition"][0]["variable"]) == "aws:SecureTransport"
    assert "aws_dynamodb_table" not in found  # the backend uses use_lockfile
    assert not (bootstrapped / "lock_table.tf").exists()


def test_module_keeps_local_state(bootstrapped: Path) -> None:
    versions = parse_hcl("versions.tf", (bootstrapped / "versions.tf").read_text())
    assert "backend" not in versions["terraform"][0]
    assert "tfgen bootstrap dev" in (bootstrapped / "versions.tf").read_text()


def test_lock_table_is_created_when_the_backend_uses_one(runner: CliRunner, project: Path) -> None:
    result = invoke(
        runner, project, "bootstrap", "dev", "--set", f"backend.dynamodb_table={LOCK_TABLE}"
    )
    assert result.exit_code == 0, result.stderr
    table = resources(project / "out/_bootstrap" / NONPROD)["aws_dynamodb_table"]
    assert literal(table["name"]) == LOCK_TABLE
    assert literal(table["hash_key"]) == "LockID"


def test_bootstrap_does_not_disturb_environment_output(
    runner: CliRunner, project: Path, bootstrapped: Path
) -> None:
    assert invoke(runner, project, "render", "--all").exit_code == 0
    assert invoke(runner, project, "check", "--all").exit_code == 0
    second = invoke(runner, project, "bootstrap", "dev")
    assert second.exit_code == 0
    assert f"out/_bootstrap/{NONPROD}: up to date" in second.stderr


def test_unknown_environment_exits_1(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "bootstrap", "nope")
    assert result.exit_code == EXIT_INPUT
    assert "unknown environment 'nope'" in result.stderr
    assert not (project / "out").exists()


def test_missing_bucket_variable_exits_1(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "bootstrap", "prod", env={"TERRAFORM_STATE_BUCKET": None})
    assert result.exit_code == EXIT_INPUT
    assert "TERRAFORM_STATE_BUCKET" in result.stderr
    assert not (project / "out").exists()


def test_bootstrap_needs_an_environment(runner: CliRunner, project: Path) -> None:
    assert invoke(runner, project, "bootstrap").exit_code == 2


@pytest.mark.parametrize(
    ("template", "old", "new", "message"),
    [
        ("versions.tf.j2", "  required_providers {", '  backend "s3" {}\n\n  required_providers {',
         "may not declare a backend"),
        ("state_bucket.tf.j2", 'status = "Enabled"', 'status = "Suspended"', "versioning"),
        ("state_bucket.tf.j2", "block_public_policy     = true", "block_public_policy     = false",
         "public access block"),
        ("state_bucket.tf.j2", 'values   = ["false"]', 'values   = ["true"]', "without TLS"),
        ("state_bucket.tf.j2", "noncurrent_version_expiration {", "expiration {",
         "noncurrent versions"),
        ("state_bucket.tf.j2", "bucket = {{ env.backend.bucket | hcl }}", 'bucket = "other-bucket"',
         "backend.bucket"),
        ("providers.tf.j2", "region = {{ env.backend.region | hcl }}",
         "region = {{ env.backend.region | hcl }}\n  skip_credentials_validation = true",
         "declares no endpoint"),
        ("state_bucket.tf.j2", '"expire-superseded-state"', '"expire-superseded-state" {',
         "not valid HCL"),
    ],
)  # fmt: skip
def test_a_broken_rule_exits_3_and_writes_nothing(
    runner: CliRunner, project: Path, template: str, old: str, new: str, message: str
) -> None:
    # The project's own templates/bootstrap/ replaces the engine's.
    shutil.copytree(PACKAGE_TEMPLATES / "bootstrap", project / "templates" / "bootstrap")
    path = project / "templates" / "bootstrap" / template
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    result = invoke(runner, project, "bootstrap", "dev")
    assert result.exit_code == EXIT_VERIFY, result.stderr
    assert message in result.stderr
    assert f"out/_bootstrap/{NONPROD}" in result.stderr
    assert not (project / "out").exists()


def test_lock_table_rules(project: Path) -> None:
    config = load_project(project).load_environment("dev").config
    files = {"main.tf": 'terraform {\n  required_version = ">= 1"\n}\n'}
    with pytest.raises(VerifyError) as caught:
        verify_bootstrap(files, config, out_prefix=f"out/_bootstrap/{NONPROD}")
    text = str(caught.value)
    for rule in ("aws_s3_bucket named exactly", "versioning", "default encryption", "pin"):
        assert rule in text


# --------------------------------------------------------------------------- terraform


@pytest.fixture(scope="module")
def plugin_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("plugin-cache")


def render_bootstrap(project: Path, name: str, *extra: str, env: dict[str, Any]) -> Path:
    result = CliRunner().invoke(
        cli, ["bootstrap", name, "--project-dir", str(project), *extra], env=env
    )
    assert result.exit_code == 0, result.stderr
    bucket = load_project(project).load_environment(name, environ=env).config.backend.bucket
    return project / "out" / "_bootstrap" / bucket


@requires_terraform
def test_bootstrap_passes_terraform_validate_and_fmt(
    project: Path, tmp_path: Path, plugin_cache: Path
) -> None:
    env = terraform_env(tmp_path, TF_PLUGIN_CACHE_DIR=str(plugin_cache))
    with_table = render_bootstrap(
        project, "dev", "--set", f"backend.dynamodb_table={LOCK_TABLE}", env=GOLDEN_ENVIRON
    )
    emulated = render_bootstrap(project, "local", env=GOLDEN_ENVIRON)
    fmt = run_terraform(["fmt", "-check", "-diff", "-recursive"], project / "out", env)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    for folder in (with_table, emulated):
        init = run_terraform(["init", "-backend=false", "-input=false"], folder, env)
        assert init.returncode == 0, init.stdout + init.stderr
        result = run_terraform(["validate"], folder, env)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[MotoServer]:
    with running_moto_server(tmp_path / "moto") as server:
        yield server


def aws_client(service: str, server: MotoServer, region: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=server.url,
        region_name=region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@requires_terraform
@pytest.mark.e2e
def test_bootstrap_applies_against_the_emulator(
    project: Path, tmp_path: Path, plugin_cache: Path, emulator: MotoServer
) -> None:
    bucket = "tfgen-bootstrap-e2e"
    render_env = aws_subprocess_env(AWS_ENDPOINT_URL=emulator.url, TFGEN_LOCAL_STATE_BUCKET=bucket)
    folder = render_bootstrap(
        project, "local", "--set", f"backend.dynamodb_table={LOCK_TABLE}", env=render_env
    )
    env = aws_subprocess_env(terraform_env(tmp_path, TF_PLUGIN_CACHE_DIR=str(plugin_cache)))
    init = run_terraform(["init", "-input=false"], folder, env)
    assert init.returncode == 0, init.stdout + init.stderr
    apply = run_terraform(["apply", "-auto-approve", "-input=false", *TARGETS], folder, env)
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert (folder / "terraform.tfstate").is_file()  # local state, as promised

    region = (
        load_project(project).load_environment("local", environ=render_env).config.backend.region
    )
    s3 = aws_client("s3", emulator, region)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):  # plain http on loopback
        s3.get_bucket_policy(Bucket=bucket)
    dynamodb = aws_client("dynamodb", emulator, region)
    table = dynamodb.describe_table(TableName=LOCK_TABLE)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]

    again = run_terraform(["plan", "-detailed-exitcode", "-input=false", *TARGETS], folder, env)
    assert again.returncode == 0, again.stdout + again.stderr


def test_bootstrap_templates_ship_with_the_engine() -> None:
    shipped = sorted(p.name for p in (PACKAGE_TEMPLATES / "bootstrap").glob("*.j2"))
    assert {"versions.tf.j2", "providers.tf.j2", "state_bucket.tf.j2", "lock_table.tf.j2"} <= set(
        shipped
    )
    assert PACKAGE_TEMPLATES.parent == ROOT / "generator"
    assert not (ROOT / "templates" / "bootstrap").exists()  # the catalog stack has no copy
