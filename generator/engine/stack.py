"""A stack: the templates folder, the schema of what it accepts, its rules and derived values.

A stack declares, beside its templates:

* ``templates/schema.json``: a JSON Schema (draft 2020-12) of its own keys. The engine
  merges it with its core (:data:`generator.engine.core.CORE_SCHEMA`) and closes the top level.
* ``templates/stack.yaml``: ``derived`` values (Jinja expressions computed once per
  environment, in order), ``rules`` (an expression that must hold, the message and the key
  it blames, optionally ``when`` and ``each``), ``not_secret`` (keys whose names only
  look like secrets) and ``components`` (several root modules per environment, each with
  its own state: ``name: {templates: [...], key: "<state key template>"}``).

Everything is checked when the stack is loaded, before any environment: a broken schema,
an unknown format, a remote ``$ref`` or an expression that does not compile is an error at
its own file and line. A stack without these files still renders; the engine then checks
its core and passes every other key to the templates as data.

NOTE: over 400 lines: the stack file's sections (derived values, rules, components, adopt
names) are compiled and checked by one compiler, at their own lines, when the stack loads.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2

from generator.engine.core import CORE_SCHEMA
from generator.engine.references import (
    REFERENCE_ROOT,
    Reference,
    scan_references,
    unknown_component_message,
)
from generator.engine.sandbox import (
    RENDER_SECONDS,
    RenderTimeout,
    compile_cached,
    make_env,
    time_limit,
)
from generator.engine.scancache import Scan
from generator.engine.stackschema import (
    compile_validator,
    default_problems,
    merged_schema,
    parse_schema,
    read_schema,
    schema_error,
    undeclared_key,
)
from generator.errors import ConfigError, Problem
from generator.inputs import yamlcache as doccache
from generator.inputs.yamldoc import MAX_FILE_BYTES, YamlDoc
from generator.inputs.yamlsource import parse_yaml_bytes, read_bounded
from generator.layout import SCHEMA_FILE, STACK_FILE, TEMPLATE_SUFFIX, TEMPLATES_DIR

_RULE_KEYS = frozenset({"key", "rule", "message", "when", "each"})
_STACK_KEYS = frozenset({"derived", "rules", "not_secret", "description", "adopt", "components"})
_ADOPT_KEYS = frozenset({"names"})
_COMPONENT_KEYS = frozenset({"templates", "key"})
# A component's name is a folder of out/<env>/ and a Terraform block label.
_COMPONENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

Expression = Callable[..., Any]
_ADOPT_TARGET = re.compile(r"^[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_-]*\.[a-z_][a-z0-9_]*$")
_DOTTED_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


@dataclass(frozen=True)
class Derived:
    """One derived value: ``env.<name>`` = the expression, computed once per environment."""

    name: str
    source: str
    expression: Expression
    line: int | None
    file: str = f"{TEMPLATES_DIR}/{STACK_FILE}"  # the stack file, as messages name it


@dataclass(frozen=True)
class Rule:
    """A cross-field check: ``rule`` must hold, else ``message`` is reported at ``key``."""

    index: int
    source: str
    rule: Expression
    key: jinja2.Template
    message: jinja2.Template
    when: Expression | None
    each: Expression | None
    line: int | None
    file: str = f"{TEMPLATES_DIR}/{STACK_FILE}"  # the stack file, as messages name it


@dataclass(frozen=True)
class Component:
    """One root module of each environment, with its own folder and state.

    Attributes:
        name: the component (``out/<env>/<name>/``, the remote-state block's label).
        templates: the top-level templates it renders (one may serve several components).
        key: the state key template, or None for the default: the environment's key with
            ``<name>/`` before its file name (``<project>/<env>/<name>/terraform.tfstate``).
        references: every ``component.<producer>.<output>`` in its templates, by line.
        line: the line of its declaration in stack.yaml.
        key_line: the line its state key is blamed on: its ``key`` in stack.yaml, else its
            declaration's.
    """

    name: str
    templates: tuple[str, ...]
    key: jinja2.Template | None = None
    references: tuple[Reference, ...] = ()
    line: int | None = None
    file: str = f"{TEMPLATES_DIR}/{STACK_FILE}"  # the stack file, as messages name it
    key_line: int | None = None

    @property
    def producers(self) -> tuple[str, ...]:
        """The components whose outputs this one reads, sorted."""
        return tuple(sorted({r.producer for r in self.references}))


@dataclass(frozen=True)
class Stack:
    """A loaded, checked stack: its merged schema, validator, derived values and rules."""

    templates_dir: Path
    schema: dict[str, Any]
    validator: Any
    derived: tuple[Derived, ...] = ()
    rules: tuple[Rule, ...] = ()
    not_secret: tuple[str, ...] = ()
    # How messages name the stack's folder: "templates" in a project; the packaged
    # bootstrap module is named as such, never as a project path it is not.
    display: str = TEMPLATES_DIR
    # stack.yaml `adopt.names`: "<address>.<attribute>" -> the dotted environment key that
    # keeps a deployed name (read by `tfgen adopt`).
    adopt_names: tuple[tuple[str, str], ...] = ()
    # stack.yaml `components`, in declaration order; empty: one root module per environment.
    components: tuple[Component, ...] = ()

    def file_display(self, name: str) -> str:
        """How messages name one file of the stack (``templates/main.tf.j2``)."""
        return f"{self.display}/{name}"


def load_stack(templates_dir: Path, *, display: str = TEMPLATES_DIR) -> Stack:
    """Load and check the stack in ``templates_dir`` (cached while its files are unchanged).

    Args:
        templates_dir: the stack's folder.
        display: how messages name that folder.

    Raises:
        ConfigError: a stack file is unreadable or wrong, each problem at its file:line.
    """
    return _load_stack(templates_dir, display, _signature(templates_dir))


def _signature(templates_dir: Path) -> tuple[Any, ...]:
    """A cheap cache key: the stat of stack.yaml, schema.json and each template beside them.

    The templates count because a stack's components hold the references scanned from them.
    """
    found: list[Any] = []
    for name in (SCHEMA_FILE, STACK_FILE):
        try:
            info = os.stat(templates_dir / name)  # noqa: PTH116 - a cheap cache key
        except OSError:
            found.append(None)
        else:
            found.append((info.st_mtime_ns, info.st_size, info.st_ino))
    templates: list[tuple[str, int, int, int]] = []
    try:
        with os.scandir(templates_dir) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                templates.append((entry.name, info.st_mtime_ns, info.st_size, info.st_ino))
    except OSError:
        return (*found, None)
    return (*found, *sorted(templates))


@functools.lru_cache(maxsize=8)
def _load_stack(templates_dir: Path, display: str, signature: tuple[Any, ...]) -> Stack:
    del signature  # part of the cache key only
    schema_path = templates_dir / SCHEMA_FILE
    schema_display = f"{display}/{SCHEMA_FILE}"
    text = ""
    stack_schema: dict[str, Any] = {}
    if schema_path.exists() or schema_path.is_symlink():
        text = read_schema(schema_path, schema_display)
        stack_schema = parse_schema(text, schema_display)
    merged = merged_schema(stack_schema)
    validator = compile_validator(merged, text, schema_display)
    problems = default_problems(stack_schema)
    if problems:
        raise ConfigError(
            *(schema_error(m, text, p, schema_display).problems[0] for p, m in problems)
        )
    found = _load_stack_file(templates_dir, stack_schema, f"{display}/{STACK_FILE}", merged)
    return Stack(
        templates_dir=templates_dir,
        schema=merged,
        validator=validator,
        derived=found.derived,
        rules=found.rules,
        not_secret=found.not_secret,
        display=display,
        adopt_names=found.adopt_names,
        components=found.components,
    )


@dataclass(frozen=True)
class _StackFile:
    """What stack.yaml declares, compiled and checked."""

    derived: tuple[Derived, ...] = ()
    rules: tuple[Rule, ...] = ()
    not_secret: tuple[str, ...] = ()
    adopt_names: tuple[tuple[str, str], ...] = ()
    components: tuple[Component, ...] = ()


# --------------------------------------------------------------------------- stack.yaml


def _load_stack_file(
    templates_dir: Path, stack_schema: dict[str, Any], display: str, merged: dict[str, Any]
) -> _StackFile:
    path = templates_dir / STACK_FILE
    if not (path.exists() or path.is_symlink()):
        return _StackFile()
    raw = read_bounded(path, MAX_FILE_BYTES, display)
    env = make_env(templates_dir)
    entry_key = _entry_key(raw, stack_schema, env, display)
    doc, codes = _cached_entry(entry_key, display)
    stored = doc is not None
    if doc is None:
        doc = parse_yaml_bytes(raw, display)
    compiler = _Compiler(env, codes, doc.lines, display)
    for key in doc.data:
        if key not in _STACK_KEYS:
            compiler.problem(f"unknown key (allowed: {', '.join(sorted(_STACK_KEYS))})", (key,))
    inputs = set(CORE_SCHEMA) | set(stack_schema.get("properties", {}))
    derived = _derived(doc.data.get("derived", {}), compiler, inputs)
    rules = _rules(doc.data.get("rules", []), compiler, merged)
    not_secret = doc.data.get("not_secret", [])
    if not isinstance(not_secret, list) or not all(isinstance(x, str) for x in not_secret):
        message = "not_secret is a list of dotted keys (globs such as tags.TOKEN_*)"
        compiler.problem(message, ("not_secret",))
        not_secret = []
    adopt_names = _adopt_names(doc.data.get("adopt", {}), compiler)
    components: tuple[Component, ...] = ()
    if "components" in doc.data:
        components = _components(doc.data["components"], compiler, templates_dir)
    if compiler.problems:
        raise ConfigError(*compiler.problems)
    if not stored:
        _store_entry(entry_key, doc, codes)
    return _StackFile(derived, rules, tuple(not_secret), adopt_names, components)


def _components(raw: Any, compiler: _Compiler, templates_dir: Path) -> tuple[Component, ...]:
    """``components``: each a name with its templates (and optionally its state key)."""
    if not isinstance(raw, dict) or not raw:
        compiler.problem("components maps a name to {templates: [...], key: ...}", ("components",))
        return ()
    display = compiler.display.rpartition("/")[0] or TEMPLATES_DIR
    available = sorted(
        p.name
        for p in templates_dir.iterdir()
        if p.is_file() and p.name.endswith(TEMPLATE_SUFFIX) and not p.name.startswith("_")
    )
    found: list[Component] = []
    used: set[str] = set()
    env = make_env(templates_dir)
    scans: dict[str, Scan | None] = {}  # each template scanned once, whichever components read it
    for name, body in raw.items():
        here = ("components", str(name))
        if not isinstance(name, str) or not _COMPONENT_NAME.fullmatch(name):
            compiler.problem(
                "a component's name is 1 to 32 lowercase letters, digits and '_', "
                "starting with a letter",
                here,
            )
            continue
        if not isinstance(body, dict):
            compiler.problem("a component is a mapping with `templates` (and `key`)", here)
            continue
        for key in body:
            if key not in _COMPONENT_KEYS:
                allowed = ", ".join(sorted(_COMPONENT_KEYS))
                compiler.problem(f"unknown key (allowed: {allowed})", (*here, str(key)))
        templates = _component_templates(body.get("templates"), compiler, here, available)
        used.update(templates)
        key_template = None
        if "key" in body:
            key_template = compiler.template(body["key"], (*here, "key"))
        references = scan_references(env, templates, lambda n: f"{display}/{n}", scans)
        found.append(
            Component(
                name,
                templates,
                key_template,
                references,
                compiler.lines.get(here),
                compiler.display,
                compiler.lines.get((*here, "key")) or compiler.lines.get(here),
            )
        )
    names = [c.name for c in found]
    for component in found:
        for ref in component.references:
            if ref.producer not in names:
                message = unknown_component_message(ref.producer, names)
                key = f"{REFERENCE_ROOT}.{ref.producer}.{ref.output}"
                compiler.problems.append(Problem(message, path=ref.file, line=ref.line, key=key))
    unused = [n for n in available if n not in used]
    if unused and found:
        compiler.problem(
            f"{', '.join(unused)} belong(s) to no component: list each under the "
            "`templates` of the components that render it",
            ("components",),
        )
    return tuple(found)


def _component_templates(
    raw: Any, compiler: _Compiler, here: tuple[str, ...], available: list[str]
) -> tuple[str, ...]:
    where = (*here, "templates")
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        compiler.problem("templates is a non-empty list of template names (x.tf.j2)", where)
        return ()
    found: list[str] = []
    for name in raw:
        if name in found:
            compiler.problem(f"{name} is listed twice", where)
        elif name not in available:
            close = difflib.get_close_matches(name, available, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            compiler.problem(f"no top-level template {name!r} in the stack{hint}", where)
        else:
            found.append(name)
    return tuple(found)


def _adopt_names(raw: Any, compiler: _Compiler) -> tuple[tuple[str, str], ...]:
    """``adopt.names``: ``"<type>.<name>.<attribute>": "<dotted.env.key>"`` pairs."""
    if not isinstance(raw, dict):
        compiler.problem("adopt is a mapping with `names`", ("adopt",))
        return ()
    for key in raw:
        if key not in _ADOPT_KEYS:
            allowed = ", ".join(sorted(_ADOPT_KEYS))
            compiler.problem(f"unknown key (allowed: {allowed})", ("adopt", key))
    names = raw.get("names", {})
    if not isinstance(names, dict):
        compiler.problem(
            "adopt.names maps <type>.<name>.<attribute> to an environment key", ("adopt", "names")
        )
        return ()
    found: list[tuple[str, str]] = []
    for target, key in names.items():
        here = ("adopt", "names", target)
        if not _ADOPT_TARGET.fullmatch(target):
            compiler.problem(
                "expected <resource type>.<name>.<attribute>, such as aws_lb.main.name", here
            )
        elif not isinstance(key, str) or not _DOTTED_KEY.fullmatch(key):
            compiler.problem("expected a dotted environment key, such as names.queue", here)
        else:
            found.append((target, key))
    return tuple(found)


# One cache entry per stack file (generator.inputs.yamlcache): its parsed YAML with lines and the
# compiled code of every expression and message, so a warm run reads one file instead of
# parsing YAML and opening one bytecode file per expression. Keyed by the file's bytes, the
# schema's input names (they decide which derived names are allowed) and what shapes
# compiled code. Every check of the stack file still runs on what the entry holds.


def _entry_key(
    raw: bytes, stack_schema: dict[str, Any], env: jinja2.Environment, display: str
) -> str | None:
    if env.bytecode_cache is None:  # caches are off
        return None
    return doccache.entry_key(
        "stack",
        display,
        raw,
        sys.version,
        jinja2.__version__,
        getattr(env.bytecode_cache, "salt", ""),
        json.dumps(sorted(stack_schema.get("properties", {}))),
    )


def _cached_entry(key: str | None, display: str) -> tuple[YamlDoc | None, dict[str, CodeType]]:
    found = doccache.read(key, display) if key is not None else None
    if found is None:
        return None, {}
    doc, codes = found
    if not (
        isinstance(codes, dict)
        and all(isinstance(k, str) and isinstance(v, CodeType) for k, v in codes.items())
    ):
        return None, {}
    return doc, dict(codes)


def _store_entry(key: str | None, doc: YamlDoc, codes: dict[str, CodeType]) -> None:
    if key is not None:
        doccache.write(key, doc, codes)


# What a source must be, and how its syntax error is worded, for each kind of stack code.
_KINDS = {
    True: ("expected a Jinja expression (a non-empty string)", "expression syntax error"),
    False: ("expected a string (it may use {{ ... }})", "template syntax error"),
}


@dataclass
class _Compiler:
    """Compiles the stack file's code, collecting each problem at its line of the file."""

    env: jinja2.Environment
    codes: dict[str, CodeType]
    lines: dict[tuple[str, ...], int]
    display: str
    problems: list[Problem] = field(default_factory=list)

    def problem(self, message: str, key: tuple[str, ...]) -> None:
        line = self.lines.get(key)
        self.problems.append(
            Problem(message, path=self.display, line=line, key=".".join(key) or None)
        )

    def expression(self, source: Any, key: tuple[str, ...]) -> Expression | None:
        return self._compile(source, key, expression=True)  # type: ignore[no-any-return]

    def template(self, source: Any, key: tuple[str, ...]) -> jinja2.Template | None:
        return self._compile(source, key, expression=False)  # type: ignore[no-any-return]

    def _compile(self, source: Any, key: tuple[str, ...], *, expression: bool) -> Any:
        expected, syntax = _KINDS[expression]
        if not isinstance(source, str) or not source.strip():
            self.problem(expected, key)
            return None
        try:
            with time_limit(RENDER_SECONDS):
                return compile_cached(self.env, source, expression=expression, codes=self.codes)
        except jinja2.TemplateSyntaxError as err:
            self.problem(f"{syntax}: {err.message}", key)
        except RenderTimeout:
            self.problem(f"compiling it took longer than {RENDER_SECONDS} s (the bound)", key)
        except RecursionError:
            self.problem(f"{syntax}: nested too deeply to compile", key)
        except MemoryError:
            self.problem(f"{syntax}: out of memory while compiling", key)
        return None


def _derived(raw: Any, compiler: _Compiler, inputs: set[str]) -> tuple[Derived, ...]:
    problem = compiler.problem
    if not isinstance(raw, dict):
        problem("derived is a mapping of name: expression", ("derived",))
        return ()
    found: list[Derived] = []
    for name, source in raw.items():
        key = ("derived", name)
        if not name.isidentifier():
            problem("a derived value's name is an identifier (letters, digits, '_')", key)
            continue
        if name in inputs:
            problem(f"{name!r} is an input key; a derived value needs a name of its own", key)
            continue
        expression = compiler.expression(source, key)
        if expression is not None:
            found.append(
                Derived(name, source, expression, compiler.lines.get(key), compiler.display)
            )
    return tuple(found)


def _rules(raw: Any, compiler: _Compiler, schema: dict[str, Any]) -> tuple[Rule, ...]:
    problem = compiler.problem
    if not isinstance(raw, list):
        problem("rules is a list of {key, rule, message[, when, each]}", ("rules",))
        return ()
    found: list[Rule] = []
    for index, item in enumerate(raw):
        here = ("rules", str(index))
        if not isinstance(item, dict):
            problem("a rule is a mapping of key, rule, message[, when, each]", here)
            continue
        for name in item:
            if name not in _RULE_KEYS:
                problem(f"unknown key (allowed: {', '.join(sorted(_RULE_KEYS))})", (*here, name))
        for name in ("key", "rule", "message"):
            if name not in item:
                problem(f"a rule needs {name!r}", here)
        if not {"key", "rule", "message"} <= set(item):
            continue
        rule = compiler.expression(item["rule"], (*here, "rule"))
        key = compiler.template(item["key"], (*here, "key"))
        if isinstance(item["key"], str) and (unknown := undeclared_key(schema, item["key"])):
            declared = f"the schema declares no key {unknown!r}"
            problem(f"{declared}: a rule's key names the value it blames", (*here, "key"))
        message = compiler.template(item["message"], (*here, "message"))
        when = each = None
        if "when" in item:
            when = compiler.expression(item["when"], (*here, "when"))
        if "each" in item:
            each = compiler.expression(item["each"], (*here, "each"))
        if rule is None or key is None or message is None:
            continue
        if ("when" in item and when is None) or ("each" in item and each is None):
            continue
        line = compiler.lines.get(here)
        found.append(
            Rule(index, item["rule"], rule, key, message, when, each, line, compiler.display)
        )
    return tuple(found)
