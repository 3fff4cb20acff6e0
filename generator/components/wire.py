"""Render one environment's components and wire them: checked before anything is written.

Each component renders its own templates with its own state key, and is verified like any
root module. Then, across components: every output a template reads is declared by its
producer (parsed back from the producer's rendered ``output`` blocks) and carries no
secret; all components agree on ``required_version`` and the provider constraints; and
each consumer gets :data:`REMOTE_STATE_FILE`, whose ``terraform_remote_state`` blocks are
copied from the producers' rendered ``backend.hcl``, so they cannot point at another state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from generator.components.graph import ComponentGraph
from generator.engine.core import EnvironmentConfig, build_config
from generator.engine.filters import hcl_attrs
from generator.engine.formats import state_key_problem
from generator.engine.references import ComponentNamespace, Reference, did_you_mean
from generator.engine.render import render_environment, rendered_header, rerun_name
from generator.engine.stack import Component, Stack
from generator.errors import ConfigError, Problem, RenderError, TfgenError, VerifyError
from generator.verify.rules import (
    BACKEND_FILE,
    NotALiteralError,
    at_template,
    blocks_of,
    check_no_endpoints,
    decode_hcl_string,
    parse_hcl,
    verify_rendered,
)

REMOTE_STATE_FILE = "tfgen_remote_state.tf"
STATE_FILE_NAME = "terraform.tfstate"
# The producer's backend.hcl settings a remote-state reader needs (not locking or encryption).
_READ_SETTINGS = (
    "bucket",
    "key",
    "region",
    "endpoints",
    "use_path_style",
    "skip_credentials_validation",
    "skip_requesting_account_id",
    "skip_metadata_api_check",
)
# An output whose name or value looks like a secret (an ARN or id of one is fine).
_SECRET_NAME = re.compile(
    r"(password|passwd|passphrase|private_key|secret_string|secret_binary|token|credential"
    r"|(^|_)secret$)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"(\.password\b|\bpassword\b|secret_string|secret_binary|private_key|random_password\.|"
    r"\.token\b|access_key\.[a-z_]+\.secret\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AddedFile:
    """A file tfgen adds to a component beside its templates' (its ``adopt.tf``, say).

    It is verified with the component's files; then ``check`` sees the component's parsed
    files and raises a :class:`TfgenError` when the file does not fit them.

    Attributes:
        name: the file's name in the component's folder.
        text: its content.
        source: the project file it is rendered from, as messages name it.
        check: called with the component's parsed files after verification.
    """

    name: str
    text: str
    source: str
    check: Callable[[Mapping[str, Mapping[str, Any]]], None] | None = None


@dataclass(frozen=True)
class RenderedComponent:
    """One component of one environment, rendered, verified and wired, not yet written."""

    name: str
    config: EnvironmentConfig  # the environment with this component's state key
    files: dict[str, str]
    display: str  # out/<env>/<component>


def component_key(config: EnvironmentConfig, component: Component) -> str:
    """The state key of ``component``.

    Its ``key`` template, or the environment's key with ``<component>/`` before the file
    name (``<project>/<env>/<component>/terraform.tfstate``).

    Raises:
        ConfigError: the key template fails, or renders a key S3 or Terraform refuses.
    """
    path, line = component.file, component.key_line
    where = f"components.{component.name}.key"
    if component.key is None:
        folder, _, file = config.backend.key.rpartition("/")
        return f"{folder}/{component.name}/{file}" if folder else f"{component.name}/{file}"
    try:
        key = component.key.render(env=config.values).strip()
    except Exception as err:  # the stack author's template: contain all
        msg = f"state key template error: {err}"
        raise ConfigError.at(msg, path=path, line=line, key=where) from err
    problem = state_key_problem(key) if key else "the state key template renders nothing"
    if problem:
        msg = f"{key!r}: {problem}"
        raise ConfigError.at(msg, path=path, line=line, key=where)
    return key


def component_config(config: EnvironmentConfig, component: Component) -> EnvironmentConfig:
    """The environment as ``component`` sees it: ``env.backend.key`` is its own state key."""
    key = component_key(config, component)
    backend = {**config.values["backend"], "key": key}
    values = {**config.values, "backend": backend}
    return replace(build_config(values), values=values)


def render_components(
    stack: Stack,
    graph: ComponentGraph,
    config: EnvironmentConfig,
    *,
    source: str,
    out_prefix: str,
    only: Sequence[str] = (),
    added: Mapping[str, Sequence[AddedFile]] | None = None,
    rerun: str | None = None,
) -> tuple[RenderedComponent, ...]:
    """Render, verify and wire the components of one environment, in apply order.

    Args:
        stack: the loaded stack (with components).
        graph: its component graph.
        config: the validated environment.
        source: the environment file, named in each file's header.
        out_prefix: how the environment's output folder is named (``out/prod``).
        only: render these components (and, to check them, the ones they read and the
            ones that read them); all when empty.
        added: component -> files tfgen adds beside its templates' (the adoption's
            ``adopt.tf``), verified with them.
        rerun: the arguments of the command in each file's header (see
            :func:`~generator.engine.render.render_environment`).

    Returns:
        The components asked for, in apply order.

    Raises:
        RenderError: a template fails, reads an unknown component, an output its producer
            does not declare, or an output that carries a secret (at the template line).
        VerifyError: a component's output fails verification, or components disagree on
            ``required_version`` or provider constraints.
        ConfigError: a component's state key template fails, or an added file's check
            refuses it.
    """
    added = added or {}
    rerun = rerun or rerun_name(source, config.name)
    by_name = {c.name: c for c in stack.components}
    wanted = list(only) or list(graph.components)
    # A component asked for alone is checked both ways: against the outputs of the ones it
    # reads, and its outputs against the ones that read it (a renamed output fails here, at
    # the consumer's line, not in the consumer's next plan). Those render but are not kept.
    checked = set(wanted) | {c for n in wanted for c in graph.consumers_of(n)}
    needed = checked | {p for n in checked for p in graph.producers_of(n)}
    order = [n for wave in graph.waves for n in wave if n in needed]
    rendered: dict[str, RenderedComponent] = {}
    parsed: dict[str, dict[str, dict[str, Any]]] = {}
    used: dict[str, list[Reference]] = {}
    texts: dict[str, Mapping[str, str]] = {}
    for name in order:
        component = by_name[name]
        display = f"{out_prefix}/{name}"
        try:
            cfg = component_config(config, component)
            found: list[Reference] = []
            namespace = ComponentNamespace(graph.components, name, found, stack.file_display)
            files = render_environment(
                stack,
                cfg,
                source=source,
                templates=component.templates,
                component=namespace,
                rerun=rerun,
            )
            _check_static(component, found)
            if REMOTE_STATE_FILE in files:
                msg = f"{REMOTE_STATE_FILE} is tfgen's own file in a component; rename the template"
                raise VerifyError.at(msg, path=f"{display}/{REMOTE_STATE_FILE}")
            producers = sorted({r.producer for r in found})
            if producers:
                # Producers render first (waves): their backend.hcl is known. The block goes
                # in before verification, which then sees every reference resolve.
                text = _remote_state_text(producers, parsed, rendered_header(source, rerun))
                _verify_remote_state(text, RenderedComponent(name, cfg, files, display))
                files[REMOTE_STATE_FILE] = text
            for extra in added.get(name, ()):
                if extra.name in files:
                    msg = f"the stack renders {extra.name}, the file tfgen renders from this one"
                    raise RenderError.at(msg, path=extra.source)
                files[extra.name] = extra.text
            parsed[name] = verify_rendered(files, cfg, out_prefix=display)
        except TfgenError as err:
            raise in_component(err, name) from err
        for extra in added.get(name, ()):
            if extra.check is not None:  # its errors are the added file's, named by it
                extra.check(parsed[name])
        used[name] = found
        rendered[name] = RenderedComponent(name, cfg, dict(sorted(files.items())), display)
        texts[name] = files  # with the template line behind each of their lines
    problems = [p for name in order for p in _output_problems(used[name], parsed)]
    if problems:
        raise RenderError(*problems)
    agreement = _version_problems(order, parsed, rendered, texts)
    if agreement:
        raise VerifyError(*agreement)
    result: list[RenderedComponent] = []
    for name in order:
        if name not in wanted:
            continue
        result.append(rendered[name])
    return tuple(result)


def in_component(err: TfgenError, name: str) -> TfgenError:
    """``err`` with each problem saying which component it belongs to (same class and code)."""
    problems = [replace(p, message=f"component {name}: {p.message}") for p in err.problems]
    wrapped = type(err)(*problems) if type(err).__init__ is TfgenError.__init__ else err
    wrapped.exit_code = err.exit_code
    return wrapped


def _check_static(component: Component, found: Sequence[Reference]) -> None:
    """A reference made at render time must be written as ``component.<name>.<output>``."""
    static = {(r.producer, r.output) for r in component.references}
    for ref in found:
        if (ref.producer, ref.output) not in static:
            msg = (
                f"component.{ref.producer}.{ref.output} is read through a computed name; "
                "write it as component.<name>.<output> so tfgen can order the components"
            )
            raise RenderError.at(msg, path=ref.file, line=ref.line)


# --------------------------------------------------------------------------- outputs


def _outputs(parsed: Mapping[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Output name -> (file, body) of a component's parsed files."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for file, doc in sorted(parsed.items()):
        for block in doc.get("output", []) if isinstance(doc.get("output"), list) else []:
            if not isinstance(block, dict):
                continue
            for label, body in block.items():
                if isinstance(body, dict):
                    found[label.strip('"')] = (file, body)
    return found


def _output_problems(
    refs: Sequence[Reference], parsed: Mapping[str, Mapping[str, dict[str, Any]]]
) -> list[Problem]:
    problems: list[Problem] = []
    for ref in refs:
        outputs = _outputs(parsed[ref.producer])
        key = f"component.{ref.producer}.{ref.output}"
        if ref.output not in outputs:
            listed = ", ".join(sorted(outputs)) or "none"
            msg = (
                f"component {ref.producer} declares no output {ref.output!r}"
                f"{did_you_mean(ref.output, sorted(outputs))}; its outputs: {listed}"
            )
            problems.append(Problem(msg, path=ref.file, line=ref.line, key=key))
            continue
        file, body = outputs[ref.output]
        why = _secret_reason(ref.output, body)
        if why:
            msg = (
                f"output {ref.output!r} of component {ref.producer} ({file}) {why}; a remote "
                "state reader can read the producer's whole state, so tfgen never wires a "
                "secret: output the secret's ARN and read it where it is used"
            )
            problems.append(Problem(msg, path=ref.file, line=ref.line, key=key))
    return problems


def _secret_reason(name: str, body: Mapping[str, Any]) -> str | None:
    if body.get("sensitive") is True:
        return "is sensitive"
    if _SECRET_NAME.search(name) and not name.endswith(("_arn", "_id", "_name")):
        return "is named like a secret"
    if _SECRET_VALUE.search(json.dumps(body.get("value"), default=str)):
        return "carries a secret value"
    return None


def _terraform_pins(parsed: Mapping[str, dict[str, Any]]) -> dict[str, tuple[str, Any]] | None:
    """A component's pins, or None when it sets no ``required_version``.

    Pin: ``required_version`` or ``required_providers.<name>.<setting>`` -> (the file that
    sets it, its value). Terraform merges a module's ``terraform`` blocks, so the pins are
    gathered from all of them (verification allows one ``required_providers``); the first
    setting of each counts.
    """
    pins: dict[str, tuple[str, Any]] = {}
    for file, doc in sorted(parsed.items()):
        for block in blocks_of(doc, "terraform"):
            if "required_version" in block:
                pins.setdefault("required_version", (file, _plain(block["required_version"])))
            for entry in block.get("required_providers", []):
                if not isinstance(entry, dict):
                    continue
                for provider, body in entry.items():
                    if provider.startswith("__"):
                        continue
                    settings = body if isinstance(body, dict) else {"": body}
                    for setting, value in settings.items():
                        if not setting.startswith("__"):
                            key = ".".join(
                                p for p in ("required_providers", provider, setting) if p
                            )
                            pins.setdefault(key, (file, _plain(value)))
    return pins if "required_version" in pins else None


def _version_problems(
    order: Sequence[str],
    parsed: Mapping[str, Mapping[str, dict[str, Any]]],
    rendered: Mapping[str, RenderedComponent],
    texts: Mapping[str, Mapping[str, str]],
) -> list[Problem]:
    """Each pin in which a component differs from the first, at the template line setting it."""
    pins = {n: p for n in order if (p := _terraform_pins(parsed[n])) is not None}
    if not pins:
        return []
    first = order[0] if order[0] in pins else next(iter(pins))
    theirs = pins[first]
    problems: list[Problem] = []
    for name, mine in pins.items():
        for key in sorted(set(mine) | set(theirs)):
            value, other = mine.get(key), theirs.get(key)
            if value is not None and other is not None and value[1] == other[1]:
                continue
            file = (value or mine["required_version"])[0]
            display = f"{rendered[name].display}/{file}"
            line = _pin_line(texts[name][file], key) if value is not None else None
            where = (
                ""
                if other is None
                else f" ({_pin_place(texts[first], rendered[first], other[0], key)})"
            )
            message = (
                f"component {name}: {key} is {_shown(value)}, but component {first}'s is "
                f"{_shown(other)}{where}: all components of an environment agree on "
                "required_version and required_providers"
            )
            problem = Problem(message, path=display, line=line)
            problems.append(at_template(problem, texts[name], rendered[name].display))
    return problems


def _pin_place(texts: Mapping[str, str], item: RenderedComponent, file: str, key: str) -> str:
    """Where a pin is set: its template line when known, else its output file (and line)."""
    line = _pin_line(texts[file], key)
    origin = getattr(texts, "origin", None)
    found = origin(file, line) if origin is not None and line is not None else None
    if found is not None:
        return f"{found[0]}:{found[1]}"
    return f"{item.display}/{file}" + ("" if line is None else f":{line}")


def _shown(pin: tuple[str, Any] | None) -> str:
    return "not set" if pin is None else json.dumps(pin[1], default=str)


def _pin_line(text: str, key: str) -> int | None:
    """The line of ``text`` that sets the pin ``key``.

    ``required_version = ...``, or a provider's setting at or after the line that opens that
    provider (``aws = {``).
    """
    parts = key.split(".")
    if len(parts) == 1:
        return _first_line(text, parts[0], 1)
    opened = _first_line(text, parts[1], 1)
    if opened is None or len(parts) == 2:
        return opened
    own = re.search(rf"\b{re.escape(parts[2])}\s*=", text.splitlines()[opened - 1].split("=", 1)[1])
    return opened if own else _first_line(text, parts[2], opened + 1)


def _first_line(text: str, name: str, start: int) -> int | None:
    setting = re.compile(rf"^\s*{re.escape(name)}\s*=")
    for number, line in enumerate(text.splitlines()[start - 1 :], start=start):
        if setting.match(line):
            return number
    return None


# --------------------------------------------------------------------------- remote state


def _read_config(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The producer's backend.hcl settings a reader needs, as plain values."""
    return {k: _plain(doc[k]) for k in _READ_SETTINGS if k in doc}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, str):
        try:
            return decode_hcl_string(value)
        except NotALiteralError:
            return value
    return value


def _remote_state_text(
    producers: Sequence[str], parsed: Mapping[str, Mapping[str, dict[str, Any]]], header: str
) -> str:
    blocks: list[str] = []
    for producer in producers:
        settings = _read_config(parsed[producer][BACKEND_FILE])
        blocks.append(
            f"# The outputs of component {producer}, from its state "
            f"(settings copied from ../{producer}/{BACKEND_FILE}).\n"
            f'data "terraform_remote_state" "{producer}" {{\n'
            '  backend = "s3"\n'
            "  config = {\n" + hcl_attrs(settings, 4) + "\n  }\n}\n"
        )
    return header + "\n" + "\n".join(blocks)


def _verify_remote_state(text: str, item: RenderedComponent) -> None:
    display = f"{item.display}/{REMOTE_STATE_FILE}"
    parsed = parse_hcl(display, text)
    if item.config.endpoint is None and item.config.backend.endpoint is None:
        problems = check_no_endpoints({REMOTE_STATE_FILE: parsed}, item.display)
        if problems:
            raise VerifyError(*problems)
