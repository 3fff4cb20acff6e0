"""A catalog of hostile inputs: each gets its exact exit code, a located message, no traceback,
and leaves every file as it was (bytes and mtimes).

Each row starts from a copy of the shipped project in which ``out/dev`` was rendered
once, changes a few files, runs the CLI, and compares the whole tmp folder before and after.

Unwritable folders: the tests run as root here, and root ignores permission bits. Two rows
cover it anyway: ``--out /sys`` (sysfs refuses new entries even to root, on every Linux),
and an output root made immutable with ``chattr +i`` (or ``chmod`` when not root), which
the row undoes afterwards.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.engine.stack import load_stack
from generator.errors import ConfigError
from generator.project import load_project
from tests.stacks.cases import Case, render_dev_once, run_case

DEV = "environments/dev.yaml"
TPL = "templates/extra.tf.j2"


def dev(body: str) -> dict[str, str]:
    """A dev.yaml holding ``body`` (dedented) instead of the shipped one."""
    return {DEV: body}


LAYER = "environments/_extra.yaml"


def with_layer(body: str) -> Callable[[Path], None]:
    """Make the shipped dev.yaml extend a layer holding ``body`` (dedented)."""

    def edit(project: Path) -> None:
        (project / LAYER).write_text(textwrap.dedent(body), encoding="utf-8")
        path = project / DEV
        path.write_text("extends: [_extra]\n" + path.read_text(encoding="utf-8"), "utf-8")

    return edit


def backend_bucket(value: str) -> dict[str, str]:
    return dev(f"network:\n  vpc_cidr: 10.10.0.0/16\nbackend:\n  bucket: {value}\n")


def backend_key(value: str) -> dict[str, str]:
    return dev(f"network:\n  vpc_cidr: 10.10.0.0/16\nbackend:\n  key: {value}\n")


BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


CASES = [
    # ------------------------------------------------------------------ YAML
    Case(
        "yaml-syntax-unclosed-flow",
        dev("tags:\n  Environment: dev\nnetwork: {vpc_cidr: 10.10.0.0/16\n"),
        message=r"environments/dev\.yaml:4: YAML syntax error",
    ),
    Case(
        "yaml-syntax-tab-indent",
        dev("network:\n\tvpc_cidr: 10.10.0.0/16\n"),
        message=r"environments/dev\.yaml:2: YAML syntax error: found character '\\t'",
    ),
    Case(
        "yaml-top-level-list",
        dev("- network\n- tags\n"),
        message=r"environments/dev\.yaml:1: the top level must be a mapping.*not a list",
    ),
    Case(
        "yaml-top-level-scalar",
        dev("just some text\n"),
        message=r"environments/dev\.yaml:1: the top level must be a mapping.*not a scalar",
    ),
    Case(
        "yaml-duplicate-key",
        dev("tags:\n  Environment: dev\nnetwork:\n  vpc_cidr: 10.10.0.0/16\ntags: {}\n"),
        message=r"environments/dev\.yaml:5: tags: duplicate key \(first defined on line 1\)",
    ),
    Case(
        "yaml-duplicate-nested-key",
        dev("network:\n  vpc_cidr: 10.10.0.0/16\n  vpc_cidr: 10.11.0.0/16\n"),
        message=r"environments/dev\.yaml:3: network\.vpc_cidr: duplicate key",
    ),
    Case(
        "yaml-non-utf8",
        {DEV: b"network:\n  vpc_cidr: 10.10.0.0/16\ntags:\n  Environment: d\xe9v\n"},
        message=r"environments/dev\.yaml:4: not valid UTF-8 \(byte 0xe9\)",
    ),
    Case(
        "yaml-control-character",
        {DEV: b"network:\n  vpc_cidr: 10.10.0.0/16\ntags:\n  Environment: \x1b[31mdev\n"},
        message=r"environments/dev\.yaml:4: character U\+001B is not allowed",
    ),
    Case(
        "yaml-billion-laughs",
        dev(BILLION_LAUGHS),
        message=r"environments/dev\.yaml:\d+: the document expands to more than 100000 values",
    ),
    Case(
        "yaml-recursive-alias",
        dev("network: &n\n  vpc_cidr: 10.10.0.0/16\n  again: *n\n"),
        message=r"environments/dev\.yaml:\d+: an alias refers to a node that contains it",
    ),
    Case(
        "yaml-nested-too-deep",
        dev("tags: " + "[" * 200 + "]" * 200 + "\n"),
        message=r"environments/dev\.yaml:1: nested more than 64 levels deep",
    ),
    Case(
        "yaml-python-tag",
        dev("network: !!python/object/apply:os.system ['touch /tmp/pwned']\n"),
        message=r"environments/dev\.yaml:1: YAML syntax error: could not determine a constructor",
    ),
    Case(
        "yaml-non-string-key",
        dev("network:\n  vpc_cidr: 10.10.0.0/16\ntags:\n  1: one\n"),
        message=r"environments/dev\.yaml:4: tags\['1'\]: keys must be strings",
    ),
    Case(
        "layer-yaml-syntax",
        {"environments/_defaults.yaml": "project: [catalog\n"},
        message=r"environments/_defaults\.yaml:2: YAML syntax error",
    ),
    # ------------------------------------------------------------------ schema
    Case(
        "wrong-type-count",
        dev("network:\n  vpc_cidr: 10.10.0.0/16\n  az_count: two\n"),
        message=r"environments/dev\.yaml:3: network\.az_count: expected an integer, got 'two'",
    ),
    Case(
        "wrong-type-map",
        dev("network:\n  vpc_cidr: 10.10.0.0/16\ntags: [a, b]\n"),
        message=r"environments/dev\.yaml:3: tags: expected a mapping, got a list",
    ),
    Case(
        "wrong-type-quoted-bool",
        dev("network:\n  vpc_cidr: 10.10.0.0/16\n  nat_per_az: 'yes'\n"),
        message=r"environments/dev\.yaml:3: network\.nat_per_az: expected a boolean",
    ),
    Case(
        "unknown-key-did-you-mean",
        dev("netwrok:\n  vpc_cidr: 10.10.0.0/16\n"),
        message=r"environments/dev\.yaml:1: netwrok: unknown key; did you mean 'network'\?",
    ),
    Case(
        "unknown-nested-key-did-you-mean",
        dev("network:\n  vpc_cidr: 10.10.0.0/16\n  az_cuont: 2\n"),
        message=r"environments/dev\.yaml:3: network\.az_cuont: unknown key; did you mean "
        r"'network\.az_count'\?",
    ),
    Case(
        "missing-required-key",
        dev("tags:\n  Environment: dev\n"),
        message=r"environments/_defaults\.yaml:\d+: network\.vpc_cidr: required key is missing",
    ),
    Case(
        "out-of-range-count",
        dev("network:\n  vpc_cidr: 10.10.0.0/16\n  az_count: 7\n"),
        message=r"environments/dev\.yaml:3: network\.az_count: must be at most 3, "
        r"not 7",
    ),
    Case(
        "out-of-range-retention",
        dev("network:\n  vpc_cidr: 10.10.0.0/16\n  flow_log_retention_days: 8\n"),
        message=r"environments/dev\.yaml:3: network\.flow_log_retention_days: CloudWatch Logs",
    ),
    Case(
        "cidr-not-a-cidr",
        dev("network:\n  vpc_cidr: 10.10.0.0/33\n"),
        message=r"environments/dev\.yaml:2: network\.vpc_cidr: '10\.10\.0\.0/33' is not an IPv4",
    ),
    Case(
        "cidr-host-bits",
        dev("network:\n  vpc_cidr: 10.10.0.1/16\n"),
        message=r"environments/dev\.yaml:2: network\.vpc_cidr: .*host bits",
    ),
    Case(
        "cidr-public",
        dev("network:\n  vpc_cidr: 8.8.0.0/16\n"),
        message=r"environments/dev\.yaml:2: network\.vpc_cidr: 8\.8\.0\.0/16 is not a private",
    ),
    Case(
        "region-unknown",
        dev("network:\n  vpc_cidr: 10.10.0.0/16\nregion: eu-middle-9\n"),
        message=r"environments/dev\.yaml:3: region: 'eu-middle-9' is not an AWS region",
    ),
    Case(
        "region-upper-case",
        dev("network:\n  vpc_cidr: 10.10.0.0/16\nregion: EU-WEST-1\n"),
        message=r"environments/dev\.yaml:3: region: 'EU-WEST-1' is not an AWS region",
    ),
    Case(
        "name-key-in-file",
        dev("name: prod\nnetwork:\n  vpc_cidr: 10.10.0.0/16\n"),
        message=r"environments/dev\.yaml:1: name: the environment name comes from the file",
    ),
    Case(
        "extends-missing-layer",
        dev("extends: [_base]\nnetwork:\n  vpc_cidr: 10.10.0.0/16\n"),
        message=r"environments/_base\.yaml: layer '_base' not found",
    ),
    Case(
        "extends-path-traversal",
        dev("extends: [../../etc/passwd]\nnetwork:\n  vpc_cidr: 10.10.0.0/16\n"),
        message=r"environments/dev\.yaml:1: extends: '\.\./\.\./etc/passwd' is not a layer",
    ),
    Case(
        "set-out-of-range",
        args=("dev", "--set", "network.az_count=9"),
        message=r"--set: network\.az_count: must be at most 3",
    ),
    # ------------------------------------------------------------------ variables
    Case(
        "variable-unset",
        backend_bucket("${env:TFGEN_CATALOG_UNSET}"),
        environ={"TFGEN_CATALOG_UNSET": None},
        message=r"environments/dev\.yaml:4: backend\.bucket: environment variable "
        r"TFGEN_CATALOG_UNSET is not set",
    ),
    Case(
        "variable-empty",
        backend_bucket("${env:TFGEN_CATALOG_EMPTY}"),
        environ={"TFGEN_CATALOG_EMPTY": ""},
        message=r"environments/dev\.yaml:4: backend\.bucket: environment variable "
        r"TFGEN_CATALOG_EMPTY is empty or only whitespace",
    ),
    Case(
        "variable-whitespace",
        backend_bucket("${env:TFGEN_CATALOG_BLANK}"),
        environ={"TFGEN_CATALOG_BLANK": " \t "},
        message=r"environments/dev\.yaml:4: backend\.bucket: environment variable "
        r"TFGEN_CATALOG_BLANK is empty or only whitespace",
    ),
    Case(
        "variable-default-is-validated",
        backend_bucket("${env:TFGEN_CATALOG_UNSET:-Upper_Case_Bucket}"),
        environ={"TFGEN_CATALOG_UNSET": None},
        message=r"environments/dev\.yaml:4: backend\.bucket: an S3 bucket name uses lowercase",
    ),
    Case(
        "variable-empty-default",
        backend_bucket("'${env:TFGEN_CATALOG_UNSET:-}'"),
        environ={"TFGEN_CATALOG_UNSET": None},
        message=r"environments/dev\.yaml:4: backend\.bucket: the bucket name is empty",
    ),
    Case(
        "variable-malformed",
        backend_bucket("${env:1BAD}"),
        message=r"environments/dev\.yaml:4: backend\.bucket: malformed reference",
    ),
    Case(
        "variable-unterminated",
        backend_bucket("'${env:TFGEN_CATALOG_UNSET'"),
        message=r"environments/dev\.yaml:4: backend\.bucket: unterminated \$\{env:\.\.\.\}",
    ),
    # ------------------------------------------------------------------ environment names
    Case(
        "name-dot-dot",
        args=("../dev",),
        message=r"invalid environment name '\.\./dev'",
    ),
    Case("name-slash", args=("envs/dev",), message=r"invalid environment name 'envs/dev'"),
    Case("name-absolute", args=("/etc/passwd",), message=r"invalid environment name '/etc/passwd'"),
    Case("name-upper-case", args=("DEV",), message=r"invalid environment name 'DEV'"),
    Case("name-empty", args=("",), message=r"invalid environment name ''"),
    Case("name-too-long", args=("a" * 33,), message=r"invalid environment name 'a{33}'"),
    Case("name-with-suffix", args=("dev.yaml",), message=r"invalid environment name 'dev\.yaml'"),
    Case(
        "name-is-a-layer",
        args=("_defaults",),
        message=r"environments/_defaults\.yaml: '_defaults' is a shared layer",
    ),
    Case(
        "name-missing-file",
        args=("deb",),
        message=r"environments/deb\.yaml: unknown environment 'deb' \(known: [a-z, -]*\bdev\b"
        r"[a-z, -]*\); did you mean 'dev'\?",
    ),
    # ------------------------------------------------------------------ templates
    Case(
        "template-undefined-variable",
        {TPL: "locals {\n  x = {{ env.no_such_thing | hcl }}\n}\n"},
        message=r"templates/extra\.tf\.j2:2: template error: .*no_such_thing",
    ),
    Case(
        "template-syntax-error",
        {TPL: "locals {\n{% if env.name %}\n}\n"},
        message=r"templates/extra\.tf\.j2:\d+: template syntax error",
    ),
    Case(
        "template-unknown-filter",
        {TPL: "locals {\n  x = {{ env.name | quote }}\n}\n"},
        message=r"templates/extra\.tf\.j2:2: template syntax error: No filter named 'quote'",
    ),
    Case(
        "template-filter-misused",
        {TPL: "locals {\n  x = {{ env.network.az_count | hcl_string }}\n}\n"},
        message=r"templates/extra\.tf\.j2:2: template error: TypeError: hcl_string expects",
    ),
    Case(
        "template-filter-on-an-object",
        {TPL: "locals {\n  x = {{ env.network.items | hcl }}\n}\n"},
        message=r"templates/extra\.tf\.j2:2: template error: TypeError: cannot write a "
        r"builtin_function_or_method as HCL",
    ),
    # ------------------------------------------------------------------ verification (exit 3)
    Case(
        "verify-python-repr-leak",
        {TPL: "locals {\n  tags = {{ env.tags }}\n}\n"},
        code=3,
        message=r"templates/extra\.tf\.j2:2: rendered file is not valid HCL \(column 11\) "
        r"\[out/dev/extra\.tf:5, not written: tags = \{'Project'",  # 3 header lines
    ),
    Case(
        "verify-unbalanced-braces",
        {TPL: 'resource "null_resource" "x" {\n'},
        code=3,
        message=r"out/dev/extra\.tf(:\d+)?: rendered file is not valid HCL",
    ),
    Case(
        "verify-second-backend",
        {TPL: 'terraform {\n  backend "s3" {}\n}\n'},
        code=3,
        message=r'out/dev: expected exactly one backend "s3" block, found 2 \(extra\.tf, ',
    ),
    Case(
        "verify-empty-s3-attribute",
        edit=lambda p: _replace(p / "templates/versions.tf.j2", 'backend "s3" {}', _S3_BUCKET),
        code=3,
        message=r'out/dev/versions\.tf: the backend "s3" block must be empty.*found bucket',
    ),
    Case(
        "verify-empty-bucket-in-backend-hcl",
        edit=lambda p: _replace(
            p / "templates/backend.hcl.j2", '"bucket": env.backend.bucket', '"bucket": ""'
        ),
        code=3,
        message=r"out/dev/backend\.hcl: bucket: empty or only whitespace",
    ),
    Case(
        "verify-leftover-template-syntax",
        {TPL: "{% raw %}# {{ not rendered }}{% endraw %}\nlocals {}\n"},
        code=3,
        message=r"templates/extra\.tf\.j2:1: leftover template syntax .* "
        r"\[out/dev/extra\.tf:4, not written: # \{\{ not rendered \}\}locals \{\}\]",
    ),
    Case(
        "verify-endpoint-without-declaring-one",
        {TPL: 'provider "aws" {\n  alias = "x"\n  skip_metadata_api_check = true\n}\n'},
        code=3,
        message=r"out/dev/extra\.tf: provider\.aws\.skip_metadata_api_check: .* but the "
        r"environment declares no endpoint",
    ),
    # ------------------------------------------------------------------ backend
    Case(
        "bucket-empty",
        backend_bucket("''"),
        message=r"environments/dev\.yaml:4: backend\.bucket: the bucket name is empty",
    ),
    Case(
        "bucket-whitespace",
        backend_bucket("'   '"),
        message=r"environments/dev\.yaml:4: backend\.bucket: the bucket name is empty or only",
    ),
    Case(
        "bucket-too-short",
        backend_bucket("ab"),
        message=r"environments/dev\.yaml:4: backend\.bucket: .*3 to 63 characters, not 2",
    ),
    Case(
        "bucket-too-long",
        backend_bucket("a" * 64),
        message=r"environments/dev\.yaml:4: backend\.bucket: .*3 to 63 characters, not 64",
    ),
    Case(
        "bucket-upper-case",
        backend_bucket("Catalog-State"),
        message=r"environments/dev\.yaml:4: backend\.bucket: an S3 bucket name uses lowercase",
    ),
    Case(
        "bucket-ip-shaped",
        backend_bucket("192.168.10.20"),
        message=r"environments/dev\.yaml:4: backend\.bucket: .*may not look like an IP address",
    ),
    Case(
        "bucket-dot-dot",
        backend_bucket("catalog..state"),
        message=r"environments/dev\.yaml:4: backend\.bucket: .*may not contain '\.\.'",
    ),
    Case(
        "key-leading-slash",
        backend_key("/catalog/dev/terraform.tfstate"),
        message=r"environments/dev\.yaml:4: backend\.key: the state key may not start with '/'",
    ),
    Case(
        "key-double-slash",
        backend_key("catalog//dev/terraform.tfstate"),
        message=r"environments/dev\.yaml:4: backend\.key: the state key may not contain '//'",
    ),
    Case(
        "key-dot-dot",
        backend_key("catalog/../prod/terraform.tfstate"),
        message=r"environments/dev\.yaml:4: backend\.key: .*may not contain a '\.' or '\.\.'",
    ),
    # ------------------------------------------------------------------ secrets
    Case(
        "secret-literal-password",
        edit=with_layer("service:\n  environment:\n    DB_PASSWORD: hunter2\n"),
        message=r"environments/_extra\.yaml:3: service\.environment\.DB_PASSWORD: a secret may "
        r"not be written in configuration; store it in AWS Secrets Manager",
    ),
    Case(
        "secret-token-from-a-variable",
        edit=with_layer("service:\n  environment:\n    API_TOKEN: ${env:TFGEN_CATALOG_TOKEN}\n"),
        environ={"TFGEN_CATALOG_TOKEN": "ghp_0123456789abcdef"},
        message=r"environments/_extra\.yaml:3: service\.environment\.API_TOKEN: a secret may not",
    ),
    Case(
        "secret-private-key-anywhere",
        edit=with_layer("tags:\n  Note: '-----BEGIN RSA PRIVATE KEY-----'\n"),
        message=r"environments/_extra\.yaml:2: tags\.Note: this value looks like a private key",
    ),
    Case(
        "secret-access-key-id-anywhere",
        edit=with_layer("service:\n  environment:\n    LOG_SINK: AKIAIOSFODNN7EXAMPLE\n"),
        message=r"environments/_extra\.yaml:3: service\.environment\.LOG_SINK: this value looks "
        r"like an AWS access key id",
    ),
    # ------------------------------------------------------------------ output folder
    Case(
        "out-is-a-file",
        {"not-a-folder": "x"},
        args=("dev", "--out", "{project}/not-a-folder"),
        message=r"not-a-folder: exists and is not a directory",
    ),
    Case(
        "out-parent-is-a-file",
        {"not-a-folder": "x"},
        args=("dev", "--out", "{project}/not-a-folder/out"),
        message=r"not-a-folder/out: cannot create the output folder: Not a directory",
    ),
    Case(
        "out-unwritable-sysfs",
        args=("dev", "--out", "/sys"),
        code=2,
        message=r"--out: /sys is inside the system folder /sys; choose another output root",
    ),
    Case(
        "out-unwritable-folder",
        dev("network:\n  vpc_cidr: 10.12.0.0/16\n"),  # a change, so there is something to write
        edit=lambda p: _make_unwritable(p / "out"),
        message=r"out/dev: cannot write output: (Operation not permitted|Permission denied)",
    ),
    Case(
        "out-symlink-inside-pointing-outside",
        edit=lambda p: _link(p / "out/dev/network.tf", p.parent / "outside.tf"),
        message=r"out/dev/network\.tf: is a symbolic link; tfgen never writes through",
    ),
    Case(
        "out-env-folder-is-a-symlink",
        edit=lambda p: _link_folder(p / "out/dev", p.parent / "elsewhere"),
        message=r"out/dev: is a symbolic link; tfgen does not write through links",
    ),
    Case(
        "out-hand-edited-file",
        edit=lambda p: _append(p / "out/dev/network.tf", "# my change\n"),
        message=r"out/dev/network\.tf: was edited by hand since tfgen wrote it.*--force",
    ),
    Case(
        "out-file-in-the-way",
        {TPL: "locals {}\n", "out/dev/extra.tf": "# mine\n"},
        message=r"out/dev/extra\.tf: exists but tfgen did not write it",
    ),
    Case(
        "out-broken-manifest",
        {"out/dev/.tfgen-manifest.json": "{"},
        message=r"out/dev/\.tfgen-manifest\.json: the manifest is not valid JSON",
    ),
]

_S3_BUCKET = 'backend "s3" {\n    bucket = ""\n  }'


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path.name} no longer contains {old!r}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def _link(path: Path, outside: Path) -> None:
    outside.write_text("# outside the output folder\n", encoding="utf-8")
    path.unlink()
    path.symlink_to(outside)


def _link_folder(path: Path, outside: Path) -> None:
    shutil.move(path, outside)
    path.symlink_to(outside, target_is_directory=True)


_IMMUTABLE: list[Path] = []


def _make_unwritable(path: Path) -> None:
    """Root ignores permission bits: use the immutable attribute where root runs the tests."""
    if os.geteuid() != 0:
        path.chmod(0o555)
        _IMMUTABLE.append(path)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {done.stderr!r}")
    _IMMUTABLE.append(path)


@pytest.fixture(autouse=True)
def _writable_again() -> Iterator[None]:
    yield
    while _IMMUTABLE:
        path = _IMMUTABLE.pop()
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o755)


@pytest.fixture
def rendered(project: Path, runner: CliRunner) -> Path:
    """The shipped project with out/dev rendered once, as a user would have it."""
    return render_dev_once(project, runner)


def test_the_catalog_has_at_least_40_distinct_rows() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, rendered: Path, runner: CliRunner) -> None:
    run_case(case, rendered, runner, dedent=True)


# --------------------------------------------------------------------------- alias bomb


def test_billion_laughs_fails_fast_with_bounded_memory(project: Path) -> None:
    (project / DEV).write_text(BILLION_LAUGHS, encoding="utf-8")
    load_stack(project / "templates")  # the stack's own load is not the bomb's memory
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"expands to more than"):
            load_project(project).load_environment("dev", environ={})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"  # 9**9 values would be gigabytes


def test_billion_laughs_in_a_process_with_a_memory_cap(project: Path) -> None:
    """The real CLI, under a 1 GiB address-space limit and a timeout: exit 1, quickly."""
    (project / DEV).write_text(BILLION_LAUGHS, encoding="utf-8")
    limit = 1 << 30

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-m", "generator", "render", "dev", "--project-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "expands to more than" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (project / "out").exists()
