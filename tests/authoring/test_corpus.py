"""Valid Terraform from the wild passes every verification rule, rendered verbatim.

``corpus/`` holds public modules (Apache-2.0, see ``corpus/NOTICE``), copied byte for byte.
Each folder becomes the templates of a stack, each file wrapped in ``{% raw %}`` so Jinja
passes it through unchanged, beside the least a stack needs: ``backend.hcl`` and a second
``terraform`` block with the empty ``backend "s3"`` (the modules' own ``versions.tf`` keeps
its ``required_version`` and ``required_providers``, as a root module split in two would).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from tests.conftest import write_tree

CORPUS = Path(__file__).resolve().parent / "corpus"
MODULES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and p.name != "LICENSES")

STACK = {
    "templates/schema.json": '{"type": "object"}\n',
    "templates/backend.hcl.j2": """
        {{ {"bucket": env.backend.bucket, "key": env.backend.key, "region": env.backend.region,
            "encrypt": true, "use_lockfile": true} | hcl_attrs }}
    """,
    "templates/tfgen_backend.tf.j2": """
        terraform {
          backend "s3" {}
        }
    """,
    "environments/dev.yaml": """
        project: corpus
        region: eu-west-1
        backend:
          bucket: corpus-state
    """,
}


def test_the_corpus_is_what_notice_lists() -> None:
    notice = (CORPUS / "NOTICE").read_text(encoding="utf-8")
    assert MODULES, "the corpus is empty"
    for name in MODULES:
        assert f"\n{name}/\n" in notice, f"{name} is not in corpus/NOTICE"
        listed = notice.split(f"\n{name}/\n", 1)[1].split("\n\n", 1)[0]
        files = listed.split("files:", 1)[1].split("\n", 1)[0]
        assert sorted(f.strip() for f in files.split(",")) == sorted(
            p.name for p in (CORPUS / name).glob("*.tf")
        )
    for licence in (CORPUS / "LICENSES").iterdir():
        assert "Apache License" in licence.read_text(encoding="utf-8")


@pytest.mark.parametrize("module", MODULES)
def test_public_module_code_passes_verification(
    module: str, tmp_path: Path, runner: CliRunner
) -> None:
    root = tmp_path / "corpus"
    write_tree(root, STACK)
    sources = {p.name: p.read_text(encoding="utf-8") for p in (CORPUS / module).glob("*.tf")}
    for name, text in sources.items():
        assert "{% endraw %}" not in text  # would end the raw block early
        target = root / "templates" / f"{name}.j2"
        target.write_text("{% raw %}" + text + "{% endraw %}", encoding="utf-8")

    result = runner.invoke(cli, ["render", "dev", "--project-dir", str(root)])

    assert result.exit_code == 0, result.stderr
    for name, text in sources.items():  # rendered verbatim, below tfgen's header
        if not text.strip():  # an empty variables.tf renders nothing, so nothing is written
            continue
        assert (root / "out" / "dev" / name).read_text(encoding="utf-8").endswith(text), name
