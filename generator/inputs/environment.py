"""environments/<env>.yaml -> layered, overridden, interpolated data with the line of every key.

What comes out is raw input, not yet validated: :class:`generator.project.Project` hands it
to the stack (:mod:`generator.engine.validate`), once.
"""

from __future__ import annotations

import copy
import json
import os
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import ConfigError, KeyPath, Locate
from generator.inputs import yamlcache as doccache
from generator.inputs.interpolate import interpolate_tree
from generator.inputs.secrets import check_no_secrets
from generator.inputs.yamldoc import MAX_FILE_BYTES, YamlDoc
from generator.inputs.yamlsource import parse_yaml_bytes, read_bounded
from generator.layout import DEFAULTS_LAYER, ENV_NAME_RE, ENVIRONMENTS_DIR

SET_ORIGIN = "--set"

Origin = tuple[str, int | None]


@dataclass(frozen=True)
class Override:
    """One ``--set dotted.key=value`` from the command line, its value already typed."""

    path: KeyPath
    value: Any

    @classmethod
    def parse(cls, text: str) -> Override:
        """Parse ``dotted.key=value``; the value is read as a YAML scalar (``3``, ``true``)."""
        key, sep, raw = text.partition("=")
        path = tuple(key.strip().split("."))
        if not sep or not all(path):
            msg = f"expected dotted.key=value, got {text!r}"
            raise ConfigError.at(msg, path=SET_ORIGIN)
        import yaml  # here: most runs have no --set, and need no YAML parser otherwise

        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        if isinstance(value, dict | list):
            value = raw  # --set takes scalars; a structure stays the literal text
        return cls(path=path, value=value)

    @property
    def argument(self) -> str:
        """The ``dotted.key=value`` that sets this value again (``true``, ``3`` as such)."""
        value = self.value
        text = value if isinstance(value, str) else json.dumps(value)  # true, 3, null
        return f"{'.'.join(self.path)}={text}"


@dataclass(frozen=True)
class LayeredEnvironment:
    """An environment's data after layers, ``--set`` and ``${env:}``, before validation.

    Attributes:
        data: the merged values, with ``name`` set from the file name (and suffix).
        locate: the file and line of any key path (a missing key: its nearest parent).
        source: the environment file, as messages name it.
    """

    data: dict[str, Any]
    locate: Locate
    source: str


def environments_dir(project_dir: Path) -> Path:
    """The folder holding the environment files of a project."""
    return project_dir / ENVIRONMENTS_DIR


def list_environments(project_dir: Path) -> list[str]:
    """Every environment of the project (``*.yaml`` not starting with ``_``), sorted."""
    folder = environments_dir(project_dir)
    if not folder.is_dir():
        return []
    return sorted(
        p.stem for p in folder.glob("*.yaml") if not p.name.startswith("_") and not p.is_dir()
    )


def check_environment_name(project_dir: Path, name: str) -> Path:
    """Return the file of environment ``name``, or raise a ConfigError saying why not."""
    display = f"{ENVIRONMENTS_DIR}/{name}.yaml"
    if name.startswith("_"):
        msg = f"{name!r} is a shared layer (its name starts with '_'), not an environment"
        raise ConfigError.at(msg, path=display)
    if not ENV_NAME_RE.fullmatch(name):
        msg = (
            f"invalid environment name {name!r}: use 1 to 32 lowercase letters, digits "
            "and hyphens, starting with a letter"
        )
        named = environments_dir(project_dir) / f"{name}.yaml"
        on_disk = "/" not in name and "\\" not in name and name not in ("", ".", "..")
        raise ConfigError.at(msg, path=display if on_disk and _present(named) else None)
    file = environments_dir(project_dir) / f"{name}.yaml"
    if not _present(file):
        known = list_environments(project_dir)
        import difflib  # here: only a mistyped name needs it

        hint = difflib.get_close_matches(name, known, n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        listed = ", ".join(known) if known else "none"
        msg = f"unknown environment {name!r} (known: {listed}){extra}"
        raise ConfigError.at(msg, path=display)
    return file


def layer_environment(
    project_dir: Path,
    name: str,
    *,
    overrides: Sequence[Override] = (),
    environ: Mapping[str, str] | None = None,
    suffix: str | None = None,
    not_secret: Collection[str] = (),
) -> LayeredEnvironment:
    """Load, layer, override and interpolate one environment; refuse literal secrets.

    Args:
        project_dir: the project root (holding ``environments/``).
        name: the environment name (the file stem).
        overrides: ``--set`` values, applied after every file and before validation.
        environ: variables for ``${env:...}``; ``os.environ`` when None.
        suffix: an ephemeral suffix; the environment is then named ``<name>-<suffix>``.
        not_secret: key patterns the stack declares whose names only look like secrets.

    Returns:
        The data, a locator for its keys, and the display path of its file.

    Raises:
        ConfigError: anything wrong with the files or variables, one problem per line
            with file, line and dotted key.
    """
    data, origins, source = layered_data(project_dir, name)
    for override in overrides:
        data = _apply_override(data, override)
        origins[override.path] = (SET_ORIGIN, None)
    env = os.environ if environ is None else environ
    locate = locator(origins, source)
    data, problems = interpolate_tree(data, env, locate)
    if problems:
        raise ConfigError(*problems)
    check_no_secrets(data, locate, allow=frozenset(not_secret))
    if "name" in data:
        file, line = locate(("name",))
        msg = "the environment name comes from the file name; remove this key"
        raise ConfigError.at(msg, path=file, line=line, key="name")
    data["name"] = f"{name}-{suffix}" if suffix else name
    return LayeredEnvironment(data=data, locate=locate, source=source)


# --------------------------------------------------------------------------- layering


def layered_data(project_dir: Path, name: str) -> tuple[dict[str, Any], dict[KeyPath, Origin], str]:
    """Merge _defaults, the ``extends`` layers and the environment file, in that order.

    Returns:
        The merged data, the file and line each key path came from, and the display
        path of the environment file.
    """
    file = check_environment_name(project_dir, name)
    folder = environments_dir(project_dir)
    source = f"{ENVIRONMENTS_DIR}/{file.name}"
    chain: list[YamlDoc] = []
    defaults = folder / f"{DEFAULTS_LAYER}.yaml"
    if _present(defaults):
        chain.extend(_resolve_layer(folder, DEFAULTS_LAYER, ()))
    chain.extend(_resolve_doc(folder, _load_doc(file, source), (name,)))
    data: dict[str, Any] = {}
    origins: dict[KeyPath, Origin] = {}
    seen: set[str] = set()
    for doc in chain:
        if doc.path in seen:  # a layer reached twice (diamond) is merged once, first place wins
            continue
        seen.add(doc.path)
        body = {k: v for k, v in doc.data.items() if k != "extends"}
        data = _deep_merge(data, body, doc, (), origins)
    return data, origins, source


def _resolve_layer(folder: Path, layer: str, stack: tuple[str, ...]) -> list[YamlDoc]:
    display = f"{ENVIRONMENTS_DIR}/{layer}.yaml"
    file = folder / f"{layer}.yaml"
    if not _present(file):
        msg = f"layer {layer!r} not found"
        raise ConfigError.at(msg, path=display)
    return _resolve_doc(folder, _load_doc(file, display), stack)


def _present(file: Path) -> bool:
    """Whether anything is at ``file`` (a FIFO or device too: reading it says what is wrong)."""
    return file.exists() or file.is_symlink()


def _load_doc(file: Path, display: str) -> YamlDoc:
    """A file's YAML, parsed once per process for each content it has had.

    ``tfgen render --all`` layers ``_defaults.yaml`` (and shared layers) under every
    environment; a worker parses each once, and a later run reads the parse back from the
    cache folder (:mod:`generator.inputs.yamlcache`). Both are keyed by the file's bytes, so an
    edit is never missed; the data is copied per use, so no caller can change another's.
    """
    raw = read_bounded(file, MAX_FILE_BYTES, display)
    key = doccache.entry_key("environment", display, raw)
    doc = _PARSED.get(key)
    if doc is None:
        found = doccache.read(key, display)
        if found is not None:
            doc = found[0]
        else:
            doc = parse_yaml_bytes(raw, display)
            doccache.write(key, doc)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = doc
    return YamlDoc(path=doc.path, data=copy.deepcopy(doc.data), lines=doc.lines)


_PARSED: dict[str, YamlDoc] = {}
_PARSED_MAX = 256


def _resolve_doc(folder: Path, doc: YamlDoc, stack: tuple[str, ...]) -> list[YamlDoc]:
    """Return the layers ``doc`` extends (recursively, in order), then ``doc`` itself."""
    extends = doc.data.get("extends", [])
    line = doc.lines.get(("extends",))
    if isinstance(extends, str):
        extends = [extends]
    if not isinstance(extends, list) or not all(isinstance(x, str) for x in extends):
        msg = "extends is a list of layer names such as [_base]"
        raise ConfigError.at(msg, path=doc.path, line=line, key="extends")
    chain: list[YamlDoc] = []
    for layer in extends:
        if not layer.startswith("_") or "/" in layer or "\\" in layer or ".." in layer:
            msg = f"{layer!r} is not a layer: layers are files in environments/ named _<name>.yaml"
            raise ConfigError.at(msg, path=doc.path, line=line, key="extends")
        if layer == DEFAULTS_LAYER:
            continue  # always applied first
        if layer in stack:
            cycle = " -> ".join((*stack, layer))
            msg = f"extends cycle: {cycle}"
            raise ConfigError.at(msg, path=doc.path, line=line, key="extends")
        chain.extend(_resolve_layer(folder, layer, (*stack, layer)))
    chain.append(doc)
    return chain


def _deep_merge(
    base: dict[str, Any],
    top: dict[str, Any],
    doc: YamlDoc,
    prefix: KeyPath,
    origins: dict[KeyPath, Origin],
) -> dict[str, Any]:
    """Maps merge deeply; lists and scalars from ``top`` replace. Records each key's origin."""
    merged = dict(base)
    for key, value in top.items():
        path = (*prefix, key)
        other = _nfc_twin(merged, key)
        if other is not None:
            first = origins.get((*prefix, other), (None, None))
            where = f"{first[0]}:{first[1]}" if first[1] is not None else str(first[0])
            msg = _same_key(key, other, where)
            raise ConfigError.at(msg, path=doc.path, line=doc.lines.get(path), key=".".join(path))
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value, doc, path, origins)
        else:
            for stale in [p for p in origins if p[: len(path)] == path]:
                del origins[stale]
            merged[key] = value
            _record(value, path, doc, origins)
        origins[path] = (doc.path, doc.lines.get(path))
    return merged


def _record(value: Any, path: KeyPath, doc: YamlDoc, origins: dict[KeyPath, Origin]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _record(v, (*path, k), doc, origins)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _record(v, (*path, str(i)), doc, origins)
    origins[path] = (doc.path, doc.lines.get(path))


def _apply_override(data: dict[str, Any], override: Override) -> dict[str, Any]:
    merged = dict(data)
    node = merged
    for part in override.path[:-1]:
        child = node.get(part)
        if child is None:
            child = {}
        elif not isinstance(child, dict):
            msg = f"cannot set a key inside {part!r}, which is not a mapping"
            raise ConfigError.at(msg, path=SET_ORIGIN, key=".".join(override.path))
        node[part] = child = dict(child)
        node = child
    other = _nfc_twin(node, override.path[-1])
    if other is not None:
        msg = _same_key(override.path[-1], other, "an earlier --set or the files")
        raise ConfigError.at(msg, path=SET_ORIGIN, key=".".join(override.path))
    node[override.path[-1]] = override.value
    return merged


def _same_key(key: str, other: str, where: str) -> str:
    return (
        f"{key!r} and {other!r} ({where}) are the same key once Unicode-normalised (NFC), "
        "as Terraform reads them: give it once"
    )


def _nfc_twin(mapping: Mapping[str, Any], key: str) -> str | None:
    """A different key of ``mapping`` that is ``key`` once NFC-normalised (Terraform's view)."""
    if not isinstance(key, str) or key in mapping:
        return None
    normal = unicodedata.normalize("NFC", key)
    return next(
        (k for k in mapping if isinstance(k, str) and unicodedata.normalize("NFC", k) == normal),
        None,
    )


def locator(origins: Mapping[KeyPath, Origin], source: str) -> Locate:
    """A locator over ``origins``: a key's file and line, a missing key's nearest parent."""

    def locate(path: KeyPath) -> Origin:
        # The nearest key that some file set: a missing key is reported at its parent.
        for end in range(len(path), 0, -1):
            found = origins.get(path[:end])
            if found is not None:
                return found
        return (source, None)

    return locate
