"""A loaded project: its folders and its stack, loaded once and handed down.

:func:`load_project` reads the stack (schema, rules, derived values) once per run (and per
process: workers forked from the run inherit it). Everything after takes the
:class:`Project`: loading an environment is layering (:mod:`generator.inputs`) then the
stack's validation (:mod:`generator.engine.validate`), once, here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from generator.adopt.blocks import Adoption, load_adoption, load_component_adoption
from generator.components.graph import ComponentGraph, component_graph
from generator.engine.core import EnvironmentConfig, build_config
from generator.engine.stack import Stack, load_stack
from generator.engine.validate import validate_environment
from generator.errors import KeyPath
from generator.inputs.environment import (
    Override,
    check_environment_name,
    layer_environment,
    list_environments,
)
from generator.inputs.yamldoc import MAX_FILE_BYTES
from generator.inputs.yamlsource import load_yaml_file
from generator.layout import ADOPT_DIR, ENVIRONMENTS_DIR, OUT_DIR, STACK_FILE, TEMPLATES_DIR


@dataclass(frozen=True)
class LoadedEnvironment:
    """A validated environment, the file it was read from, and where its state key is set.

    ``key_origin`` is the file and line that set ``backend.key`` (or ``--set``); None when
    the key is the default, made from the environment's name: a shared state is reported
    there, or at the environment file.
    """

    config: EnvironmentConfig
    source: str
    key_origin: tuple[str | None, int | None] | None = None


@dataclass(frozen=True)
class Project:
    """A project root with its stack loaded and checked.

    Attributes:
        root: the project folder.
        stack: the stack of ``templates/``, loaded and checked.
        graph: its components, their edges and apply waves (None: no components).
    """

    root: Path
    stack: Stack
    graph: ComponentGraph | None = None

    @property
    def environments_dir(self) -> Path:
        """The folder of environment files."""
        return self.root / ENVIRONMENTS_DIR

    @property
    def default_out(self) -> Path:
        """The output root when none is given: ``<root>/out``."""
        return self.root / OUT_DIR

    def environment_names(self) -> list[str]:
        """Every environment of the project, sorted."""
        return list_environments(self.root)

    def environment_file(self, name: str) -> Path:
        """The file of environment ``name``.

        Raises:
            ConfigError: not an environment name, or no such file (with a did-you-mean).
        """
        return check_environment_name(self.root, name)

    def load_environment(
        self,
        name: str,
        *,
        overrides: Sequence[Override] = (),
        environ: Mapping[str, str] | None = None,
        suffix: str | None = None,
    ) -> LoadedEnvironment:
        """Layer, override, interpolate and validate one environment against the stack.

        Args:
            name: the environment name (the file stem).
            overrides: ``--set`` values, applied after every file and before validation.
            environ: variables for ``${env:...}``; ``os.environ`` when None.
            suffix: an ephemeral suffix; the environment is then named ``<name>-<suffix>``.

        Raises:
            ConfigError: anything wrong with the files, variables or values, one
                problem per line with file, line and dotted key.
        """
        layered = layer_environment(
            self.root,
            name,
            overrides=overrides,
            environ=environ,
            suffix=suffix,
            not_secret=self.stack.not_secret,
        )
        values = validate_environment(self.stack, layered.data, layered.locate)
        return LoadedEnvironment(
            config=build_config(values),
            source=layered.source,
            key_origin=_own_origin(layered.locate, ("backend", "key")),
        )

    def load_adoption(self, name: str) -> LoadedAdoption | None:
        """Environment ``name``'s ``adopt/<env>.yaml``, checked; None when there is none.

        For a stack with components, the file holds one section per component (see
        :func:`generator.adopt.blocks.load_component_adoption`).

        Raises:
            ConfigError: the file cannot be read or is not what ``tfgen adopt`` writes,
                each problem at its line.
        """
        path, display = adoption_file(self.root, name)
        if not (path.exists() or path.is_symlink()):
            return None
        doc = load_yaml_file(path, display)
        if self.graph is None:
            return LoadedAdoption(load_adoption(doc), display, lines=doc.lines)
        sections = load_component_adoption(doc, self.graph.components)
        return LoadedAdoption(Adoption(), display, components=sections, lines=doc.lines)


@dataclass(frozen=True)
class LoadedAdoption:
    """An environment's ``adopt/<env>.yaml``, checked, and how messages name it.

    Attributes:
        adoption: the file's blocks (a stack without components).
        source: the file, as messages name it.
        components: each component's section (a stack with components).
        lines: the line of every key of the file.
    """

    adoption: Adoption
    source: str
    components: Mapping[str, Adoption] = field(default_factory=dict)
    lines: Mapping[KeyPath, int] = field(default_factory=dict)


def adoption_file(root: Path, name: str) -> tuple[Path, str]:
    """Where environment ``name``'s adoption file is, and how messages name it."""
    return root / ADOPT_DIR / f"{name}.yaml", f"{ADOPT_DIR}/{name}.yaml"


def stack_file_mentions(root: Path, pattern: re.Pattern[bytes]) -> bool:
    """Whether the project's stack.yaml text matches ``pattern`` (read raw, bounded, no stack load).

    For commands that must stay light (``tfgen list``) and load the stack only when it
    declares what they need; an unreadable file is no match (render reports it).
    """
    try:
        with (root / TEMPLATES_DIR / STACK_FILE).open("rb") as stack_file:
            text = stack_file.read(MAX_FILE_BYTES + 1)
    except OSError:
        return False
    return pattern.search(text) is not None


def load_project(root: Path) -> Project:
    """Load the project at ``root``: its stack is read and checked here, once.

    Raises:
        ConfigError: a stack file is unreadable or wrong, each problem at its file:line;
            its components read each other in a cycle.
    """
    stack = load_stack(root / TEMPLATES_DIR)
    return Project(root=root, stack=stack, graph=component_graph(stack))


def _own_origin(
    locate: Callable[[KeyPath], tuple[str | None, int | None]], path: KeyPath
) -> tuple[str | None, int | None] | None:
    """Where ``path`` itself is set, or None when only a parent of it is (a default)."""
    found = locate(path)
    return None if found == locate(path[:-1]) else found
