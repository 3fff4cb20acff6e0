"""Every reference in the output resolves; the emulator rule stays in provider blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.errors import EXIT_VERIFY
from tests.tfhelpers import requires_terraform, run_terraform, terraform_env

SITE = """\
variable "domain" {
  type    = string
  default = "example.com"
}

locals {
  origin = {{ (env.project ~ "-origin") | hcl }}
}

resource "aws_s3_bucket" "site" {
  bucket = local.origin
}

resource "aws_s3_bucket_versioning" "site" {
  bucket = {ref}
  versioning_configuration {
    status = "Enabled"
  }
}
"""


@pytest.fixture
def site(tmp_path: Path, runner: CliRunner) -> Path:
    root = tmp_path / "mysite"
    result = runner.invoke(cli, ["init", str(root)])
    assert result.exit_code == 0, result.output
    return root


def _render(root: Path, runner: CliRunner, ref: str) -> tuple[int, str]:
    (root / "templates" / "site.tf.j2").write_text(SITE.replace("{ref}", ref), encoding="utf-8")
    result = runner.invoke(
        cli, ["render", "dev", "--project-dir", str(root)], env={"TFGEN_STATE_BUCKET": "b-state"}
    )
    return result.exit_code, result.stderr


def test_valid_references_render(site: Path, runner: CliRunner) -> None:
    code, stderr = _render(site, runner, "aws_s3_bucket.site.id")
    assert code == 0, stderr


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        pytest.param(
            "{{ env.project }}-site",
            "mysite-site: 'mysite-site' is not a reference to anything this module "
            "declares: an unquoted value? (values reach HCL through a filter, such as | hcl)",
            id="unfiltered-value",
        ),
        pytest.param(
            "aws_s3_bucket.sitee.id",
            "aws_s3_bucket.sitee.id: no resource block declares 'aws_s3_bucket.sitee' "
            "(did you mean aws_s3_bucket.site?)",
            id="resource-typo",
        ),
        pytest.param(
            "var.domian",
            "var.domian: no variable block declares 'domian' (did you mean var.domain?)",
            id="variable-typo",
        ),
        pytest.param(
            '"${local.orgin}-${local.orgin}"',
            "local.orgin: no local block declares 'orgin' (did you mean local.origin?)",
            id="same-typo-twice-on-a-line-once",
        ),
        pytest.param(
            "local.orgin",
            "local.orgin: no local block declares 'orgin' (did you mean local.origin?)",
            id="local-typo",
        ),
    ],
)
def test_a_reference_to_nothing_is_exit_3_at_its_line(
    site: Path, runner: CliRunner, ref: str, message: str
) -> None:
    code, stderr = _render(site, runner, ref)
    assert code == EXIT_VERIFY
    # line 15 of the template; the header adds three lines to the output, never written
    shown = SITE.splitlines()[14].replace("{ref}", ref.replace("{{ env.project }}", "mysite"))
    assert stderr == (
        f"error: templates/site.tf.j2:15: {message} "
        f"[out/dev/site.tf:18, not written: {shown.strip()}]\n"
    )
    assert not (site / "out" / "dev").exists()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            'locals {\n  endpoints = { s3 = "com.amazonaws.eu-west-1.s3" }\n}\n'
            'output "e" {\n  value = local.endpoints\n}\n',
            id="local-named-endpoints",
        ),
        pytest.param(
            'variable "endpoints" {\n  type    = list(string)\n  default = []\n}\n',
            id="variable-named-endpoints",
        ),
        pytest.param(
            'resource "aws_lambda_event_source_mapping" "kafka" {\n'
            '  function_name     = "f"\n  topics            = ["t"]\n'
            '  starting_position = "TRIM_HORIZON"\n'
            "  self_managed_event_source {\n"
            '    endpoints = { KAFKA_BOOTSTRAP_SERVERS = "b-1.example.com:9092" }\n'
            "  }\n}\n",
            id="self-managed-event-source",
        ),
    ],
)
def test_the_emulator_rule_leaves_data_of_the_same_name_alone(
    site: Path, runner: CliRunner, text: str
) -> None:
    (site / "templates" / "extra.tf.j2").write_text(text, encoding="utf-8")
    result = runner.invoke(
        cli, ["render", "dev", "--project-dir", str(site)], env={"TFGEN_STATE_BUCKET": "b-state"}
    )
    assert result.exit_code == 0, result.stderr


def test_an_unknown_env_key_gets_a_did_you_mean_at_its_template_line(
    site: Path, runner: CliRunner
) -> None:
    text = "{{ env.bucket.force_destory | hcl }}"
    text = f'resource "aws_s3_bucket" "x" {{\n  force_destroy = {text}\n}}\n'
    (site / "templates" / "x.tf.j2").write_text(text, encoding="utf-8")
    result = runner.invoke(
        cli, ["render", "dev", "--project-dir", str(site)], env={"TFGEN_STATE_BUCKET": "b-state"}
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "error: templates/x.tf.j2:2: template error: no key 'force_destory' in env here "
        "(did you mean 'force_destroy'?)\n"
    )


def test_an_unclosed_block_is_reported_at_its_opening_tag(site: Path, runner: CliRunner) -> None:
    text = (
        "{% if env.bucket.versioning %}\n"  # line 1: never closed
        "{% for i in [1] %}\n"
        'resource "aws_s3_bucket" "x{{ i }}" {}\n'
        "{% endfor %}\n"
        "{% set note %}x{% endset %}\n"
        "{% set y = 1 %}\n"
    )
    (site / "templates" / "x.tf.j2").write_text(text, encoding="utf-8")
    result = runner.invoke(
        cli, ["render", "dev", "--project-dir", str(site)], env={"TFGEN_STATE_BUCKET": "b-state"}
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "error: templates/x.tf.j2:1: template syntax error: this {% if %} is never closed\n"
    )


@pytest.mark.parametrize(
    ("opening", "message"),
    [("{% raw %}", "Missing end of raw directive"), ("{# a note", "Missing end of comment tag")],
)
def test_an_unclosed_raw_or_comment_names_the_template_once(
    site: Path, runner: CliRunner, opening: str, message: str
) -> None:
    # Jinja's lexer puts the file's path where the template's name belongs for these two.
    (site / "templates" / "x.tf.j2").write_text(f"# one\n{opening}\nthree\n", encoding="utf-8")
    result = runner.invoke(
        cli, ["render", "dev", "--project-dir", str(site)], env={"TFGEN_STATE_BUCKET": "b-state"}
    )
    assert result.exit_code == 1
    assert result.stderr == f"error: templates/x.tf.j2:2: template syntax error: {message}\n"


# Terraform's own names where Terraform defines them, none of them in the corpus of public
# modules (tests/authoring/test_corpus.py): each must pass as it is written here.
BUILTINS = """\
variable "names" {
  type    = map(object({ size = number }))
  default = {}
}

locals {
  service = provider::aws::arn_parse("arn:aws:s3:::x").service
  pairs   = { for k, v in var.names : k => v.size if v.size > 0 }
  flat    = flatten([for k, v in var.names : [for i in range(v.size) : "${k}-${i}"]])
  listed  = "%{for n in keys(var.names)}${n},%{endfor}"
  arns    = aws_s3_bucket.counted[*].arn
}

resource "aws_s3_bucket" "counted" {
  count  = 2
  bucket = "b-${count.index}-${terraform.workspace}"

  lifecycle {
    ignore_changes = [tags, bucket]

    postcondition {
      condition     = self.bucket != ""
      error_message = "bucket ${count.index} has no name"
    }
  }

  provisioner "local-exec" {
    command = "echo ${self.id} ${path.module} ${path.root} ${path.cwd}"
  }
}

resource "aws_s3_bucket_acl" "each" {
  for_each = var.names
  bucket   = each.key

  access_control_policy {
    dynamic "grant" {
      for_each = each.value.size > 0 ? [each.value.size] : []
      iterator = g
      content {
        permission = "READ"
        grantee {
          id   = tostring(g.value)
          type = "CanonicalUser"
        }
      }
    }
    owner {
      id = "owner"
    }
  }
}

module "child" {
  source = "./child"
}

output "nested" {
  value = module.child.outputs.nested.value
}

import {
  for_each = var.names
  to       = aws_s3_bucket_acl.each[each.key]
  id       = each.key
}
"""


def test_names_terraform_defines_are_references(site: Path, runner: CliRunner) -> None:
    (site / "templates" / "builtins.tf.j2").write_text(BUILTINS, encoding="utf-8")
    result = runner.invoke(
        cli, ["render", "dev", "--project-dir", str(site)], env={"TFGEN_STATE_BUCKET": "b-state"}
    )
    assert result.exit_code == 0, result.stderr


META_MISPLACED = [
    (
        "locals {\n  key = each.key\n}\n",
        "each.key: each. is only defined inside these blocks: data, ephemeral, import, module, "
        "resource",
    ),
    (
        'resource "aws_s3_bucket" "b" {\n  bucket = "b-${count.index}"\n}\n',
        "count.index: count. is only defined in a resource block that sets count",
    ),
    (
        'resource "aws_s3_bucket" "b" {\n  bucket = each.key\n}\n',
        "each.key: each. is only defined in a resource block that sets for_each",
    ),
    (
        'resource "aws_s3_bucket" "b" {\n  bucket = self.id\n}\n',
        "self.id: self. is only defined inside a provisioner, connection or postcondition block",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"),
    META_MISPLACED,
    ids=[
        "each-outside-an-object-block",
        "count-without-count",
        "each-without-for-each",
        "self-outside-provisioner",
    ],
)
def test_a_meta_name_where_terraform_does_not_define_it_is_exit_3(
    site: Path, runner: CliRunner, text: str, message: str
) -> None:
    # Terraform refuses these at validate ("Reference to count in non-counted context"):
    # tfgen refuses them before writing, at the template line.
    (site / "templates" / "x.tf.j2").write_text(text, encoding="utf-8")
    result = runner.invoke(
        cli, ["render", "dev", "--project-dir", str(site)], env={"TFGEN_STATE_BUCKET": "b-state"}
    )
    assert result.exit_code == EXIT_VERIFY, result.stderr
    assert result.stderr.startswith(f"error: templates/x.tf.j2:2: {message} [")


META_IN_PLACE = """\
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "names" {
  type = set(string)
}

resource "aws_s3_bucket" "counted" {
  count  = 2
  bucket = "b-${count.index}"

  lifecycle {
    postcondition {
      condition     = self.bucket != ""
      error_message = "bucket ${count.index} has no name"
    }
  }

  provisioner "local-exec" {
    command = "echo ${self.id}"
  }
}

resource "aws_s3_bucket" "each" {
  for_each = var.names
  bucket   = each.key
}
"""


@requires_terraform
def test_terraform_agrees_on_where_count_each_and_self_are_defined(tmp_path: Path) -> None:
    # The rule is Terraform's, not stricter: what tfgen accepts validates, each case it
    # refuses (the rows above) fails terraform validate too.
    env = terraform_env(tmp_path)
    module = tmp_path / "m"
    module.mkdir()
    main = module / "main.tf"
    main.write_text(META_IN_PLACE, encoding="utf-8")
    init = run_terraform(["init", "-backend=false"], module, env)
    assert init.returncode == 0, init.stderr
    valid = run_terraform(["validate"], module, env)
    assert valid.returncode == 0, valid.stderr
    for text, _message in META_MISPLACED:
        main.write_text(META_IN_PLACE + text, encoding="utf-8")
        refused = run_terraform(["validate"], module, env)
        assert refused.returncode == 1, text
