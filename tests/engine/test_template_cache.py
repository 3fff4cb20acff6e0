"""The compiled-template cache: output and error locations as compiled, bounded, never fatal."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.engine.render import render_environment
from generator.engine.sandbox import _CompiledTemplateCache, make_env
from generator.engine.stack import load_stack
from generator.errors import RenderError
from generator.layout import TEMPLATES_DIR
from generator.project import load_project
from tests.components.conftest import COMPONENT_STACK
from tests.conftest import GOLDEN_ENVIRON, keep_one_root, write_tree

BROKEN = "a = 1\n{{ env.no_such_setting.x }}\n"


@pytest.fixture(autouse=True)
def _fresh_environments() -> Iterator[None]:
    yield
    make_env.cache_clear()  # no test leaves a doctored environment behind


def render(project: Path, subfolder: str | None = None) -> dict[str, str]:
    make_env.cache_clear()  # a fresh environment, as a new process has: loads from the cache
    keep_one_root(project)  # idempotent: the mechanics of the cache, on one root module
    loaded = load_project(project).load_environment("dev", environ=GOLDEN_ENVIRON)
    return render_environment(
        load_stack(project / TEMPLATES_DIR),
        loaded.config,
        source=loaded.source,
        subfolder=subfolder,
    )


def test_a_cached_render_equals_a_compiled_one(project: Path) -> None:
    env = make_env(project / TEMPLATES_DIR)
    assert isinstance(env.bytecode_cache, _CompiledTemplateCache)
    first = render(project)
    cached = render(project)
    make_env.cache_clear()
    plain = make_env(project / TEMPLATES_DIR).overlay(bytecode_cache=None, cache_size=0)
    loaded = load_project(project).load_environment("dev", environ=GOLDEN_ENVIRON)
    name = sorted(first)[0]
    expected = plain.get_template(f"{name}.j2").render(env=loaded.config.values)
    assert first == cached
    assert cached[name].endswith(expected.lstrip("\n"))


def test_errors_name_the_file_of_each_project_copy(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "copy"
    shutil.copytree(project, other)
    for root in (project, other):
        (root / TEMPLATES_DIR / "bootstrap").mkdir(exist_ok=True)
        (root / TEMPLATES_DIR / "bootstrap" / "zz_broken.tf.j2").write_text(BROKEN)
    for _ in range(2):  # the second round runs from the cache filled by the first
        for root in (project, other):
            with pytest.raises(RenderError) as caught:
                render(root, subfolder="bootstrap")
            (problem,) = caught.value.problems
            assert problem.path == "templates/bootstrap/zz_broken.tf.j2"
            assert problem.line == 2


def test_an_entry_over_its_byte_bound_is_not_stored(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_CompiledTemplateCache, "MAX_ENTRY_BYTES", 64)
    make_env.cache_clear()
    env = make_env(project / TEMPLATES_DIR)
    assert isinstance(env.bytecode_cache, _CompiledTemplateCache)
    folder = env.bytecode_cache.folder
    before = set(folder.iterdir())
    bucket = env.bytecode_cache.get_bucket(env, "big", None, "{{ 1 }}")
    bucket.code = env.compile("{{ 'compiled, more than 64 bytes of marshal' }}")
    env.bytecode_cache.set_bucket(bucket)
    assert set(folder.iterdir()) == before
    monkeypatch.setattr(_CompiledTemplateCache, "MAX_ENTRY_BYTES", 1 << 20)
    env.bytecode_cache.set_bucket(bucket)
    assert len(set(folder.iterdir()) - before) == 1


def test_an_unwritable_cache_never_fails_a_render(project: Path, tmp_path: Path) -> None:
    expected = render(project)
    make_env.cache_clear()
    env = make_env(project / TEMPLATES_DIR)
    assert isinstance(env.bytecode_cache, _CompiledTemplateCache)
    env.bytecode_cache.folder = tmp_path / "missing"
    loaded = load_project(project).load_environment("dev", environ=GOLDEN_ENVIRON)
    files = render_environment(
        load_stack(project / TEMPLATES_DIR), loaded.config, source=loaded.source
    )
    assert files == expected
    assert not (tmp_path / "missing").exists()


def test_the_cache_lives_in_tfgens_private_folder_and_turns_off(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_env.cache_clear()
    env = make_env(project / TEMPLATES_DIR)
    assert isinstance(env.bytecode_cache, _CompiledTemplateCache)
    assert env.bytecode_cache.folder.name == "jinja"
    assert env.bytecode_cache.folder.parent.name == "tfgen"
    monkeypatch.setenv("TFGEN_NO_CACHE", "1")
    make_env.cache_clear()
    assert make_env(project / TEMPLATES_DIR).bytecode_cache is None
    make_env.cache_clear()


def test_one_process_sees_a_template_edited_between_two_runs(tmp_path: Path) -> None:
    # A library caller (or a test) renders, edits a template, renders again: the second
    # render and the stack's component references are the edited ones, not the compiled.
    write_tree(tmp_path, COMPONENT_STACK)
    project = load_project(tmp_path)
    config = project.load_environment("dev").config
    only = ("network.tf.j2",)
    first = render_environment(
        project.stack, config, source="environments/dev.yaml", templates=only
    )
    network = tmp_path / TEMPLATES_DIR / "network.tf.j2"
    network.write_text(
        network.read_text(encoding="utf-8").replace('"vpc_cidr"', '"cidr"'), encoding="utf-8"
    )
    app = tmp_path / TEMPLATES_DIR / "app.tf.j2"
    app.write_text(app.read_text(encoding="utf-8") + "# {{ component.network.cidr }}\n")
    again = load_project(tmp_path)
    second = render_environment(again.stack, config, source="environments/dev.yaml", templates=only)
    assert 'output "vpc_cidr"' in first["network.tf"]
    assert 'output "cidr"' in second["network.tf"]
    (app_component,) = [c for c in again.stack.components if c.name == "app"]
    assert ("network", "cidr") in {(r.producer, r.output) for r in app_component.references}
