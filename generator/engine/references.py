"""Component references: ``component.<name>.<output>`` in a template, found and rendered.

A component's templates read another component's output through one name the engine
provides, ``component``: ``{{ component.network.vpc_id }}`` renders the Terraform
expression ``data.terraform_remote_state.network.outputs.vpc_id`` (the ``data`` block is
rendered by tfgen, see :mod:`generator.components`). The references are found twice:

* statically, when the stack loads (:func:`scan_references`): the edges between components
  come from the template source itself, so ``tfgen list`` knows the order without rendering,
  and a cycle or an unknown component is refused at its template line;
* while a component renders (:class:`ComponentNamespace`): what one environment actually
  uses, with the template line of each use, so that a missing output is reported there.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import jinja2
import jinja2.nodes

from generator.engine import scancache
from generator.engine.filters import TerraformExpression

REFERENCE_ROOT = "component"  # the name templates use for other components' outputs


@dataclass(frozen=True)
class Reference:
    """One use of another component's output: ``component.<producer>.<output>``, and where."""

    producer: str
    output: str
    file: str  # how messages name the template (templates/app.tf.j2)
    line: int | None


class BadReferenceError(Exception):
    """A template reads a component that does not exist, or its own outputs."""


def remote_state_expression(producer: str, output: str) -> str:
    """The Terraform expression a reference renders to."""
    return f"data.terraform_remote_state.{producer}.outputs.{output}"


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_component_message(name: str, known: Sequence[str]) -> str:
    """How an unknown component in a reference is reported."""
    listed = ", ".join(sorted(known)) or "none"
    return f"unknown component {name!r}{did_you_mean(name, known)}; the stack declares: {listed}"


# --------------------------------------------------------------------------- static scan


def scan_references(
    env: jinja2.Environment,
    names: Sequence[str],
    display: Callable[[str], str],
    memo: dict[str, scancache.Scan | None] | None = None,
) -> tuple[Reference, ...]:
    """Every ``component.<name>.<output>`` in ``names`` and the templates they include.

    Args:
        env: the stack's Jinja environment (its loader reads the templates).
        names: the templates of one component.
        display: how messages name a template file.
        memo: scans already made in this load, by template name (shared by the
            components of one stack, so a template they all include parses once).

    Returns:
        The references, by file and line. A template that cannot be read or parsed is
        skipped: rendering reports it at its line.
    """
    memo = {} if memo is None else memo
    found: list[Reference] = []
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name not in memo:
            memo[name] = _scan(env, name)
        scan = memo[name]
        if scan is None:
            continue
        targets, chains = scan
        pending.extend(targets)
        found.extend(
            Reference(producer, output, display(name), line) for producer, output, line in chains
        )
    return tuple(sorted(set(found), key=lambda r: (r.file, r.line or 0, r.producer, r.output)))


def _scan(env: jinja2.Environment, name: str) -> scancache.Scan | None:
    """What one template includes and which outputs it reads (cached by its source)."""
    try:
        source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
    except (jinja2.TemplateError, OSError):
        return None
    key = scancache.entry_key(name, source)
    stored = scancache.read(key)
    if stored is not None:
        return stored
    try:
        tree = env.parse(source, name=name)
    except jinja2.TemplateError:
        return None
    targets: list[str] = []
    for node in tree.find_all((jinja2.nodes.Include, jinja2.nodes.Import, jinja2.nodes.FromImport)):
        target = getattr(node, "template", None)
        if isinstance(target, jinja2.nodes.Const) and isinstance(target.value, str):
            targets.append(target.value)
    scan = (tuple(targets), tuple(_chains(tree)))
    scancache.write(key, scan)
    return scan


def _chains(tree: jinja2.nodes.Template) -> Iterator[tuple[str, str, int]]:
    """``(producer, output, line)`` of each ``component.a.b`` (or ``component["a"]["b"]``)."""
    for node in tree.find_all((jinja2.nodes.Getattr, jinja2.nodes.Getitem)):
        if not isinstance(node, jinja2.nodes.Getattr | jinja2.nodes.Getitem):
            continue
        inner = node.node
        if not isinstance(inner, jinja2.nodes.Getattr | jinja2.nodes.Getitem):
            continue
        root = inner.node
        if not (isinstance(root, jinja2.nodes.Name) and root.name == REFERENCE_ROOT):
            continue
        producer, output = _key(inner), _key(node)
        if producer is not None and output is not None:
            yield producer, output, node.lineno


def _key(node: jinja2.nodes.Getattr | jinja2.nodes.Getitem) -> str | None:
    if isinstance(node, jinja2.nodes.Getattr):
        return node.attr
    arg = node.arg
    return arg.value if isinstance(arg, jinja2.nodes.Const) and isinstance(arg.value, str) else None


# --------------------------------------------------------------------------- render time


class ComponentNamespace:
    """What templates see as ``component`` while one component renders.

    ``component.<producer>`` is a :class:`_Producer`; reading an output of it records a
    :class:`Reference` (at the template line that reads it) and gives the remote-state
    expression. An unknown component, or the component's own name, is refused there.
    """

    def __init__(
        self,
        known: Sequence[str],
        current: str,
        found: list[Reference],
        display: Callable[[str], str],
    ) -> None:
        self._known = tuple(known)
        self._current = current
        self._found = found
        self._display = display

    def __getattr__(self, name: str) -> _Producer:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._known:
            raise BadReferenceError(unknown_component_message(name, self._known))
        if name == self._current:
            msg = (
                f"component {name!r} reads its own output; use the resource itself, "
                "not component.<name>"
            )
            raise BadReferenceError(msg)
        return _Producer(name, self)

    def __getitem__(self, name: str) -> _Producer:
        return self.__getattr__(name)

    def _record(self, producer: str, output: str) -> TerraformExpression:
        file, line = _template_line(self._display)
        self._found.append(Reference(producer, output, file, line))
        code = remote_state_expression(producer, output)
        return TerraformExpression(code, f"component.{producer}.{output}")


class _Producer:
    """``component.<producer>``: reading an attribute of it is a reference to that output."""

    def __init__(self, name: str, namespace: ComponentNamespace) -> None:
        self._name = name
        self._namespace = namespace

    def __getattr__(self, output: str) -> TerraformExpression:
        if output.startswith("_"):
            raise AttributeError(output)
        return self._namespace._record(self._name, output)

    def __getitem__(self, output: str) -> TerraformExpression:
        return self.__getattr__(output)

    def __str__(self) -> str:
        msg = (
            f"component.{self._name} is a component, not a value: read one of its outputs, "
            f"component.{self._name}.<output>"
        )
        raise BadReferenceError(msg)


def _template_line(display: Callable[[str], str]) -> tuple[str, int | None]:
    """The innermost template frame calling us: its file (as messages name it) and line."""
    frame = sys._getframe(1)  # the template's line, as Jinja's debug reads it
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if template is not None and template.name:
            return display(template.name), template.get_corresponding_lineno(frame.f_lineno)
        frame = frame.f_back  # type: ignore[assignment]
    return display("?"), None
