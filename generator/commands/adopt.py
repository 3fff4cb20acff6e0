"""tfgen adopt / tfgen gate: take a deployed state over with nothing destroyed, and prove it.

``adopt`` renders the environment as usual (verified), reads the state offline, matches
each rendered instance to one deployed object (:mod:`generator.adopt.match`) and writes
what it decided into the project's ``adopt/<env>.yaml``, which every later render turns
into ``out/<env>/adopt.tf``. Same state key: ``moved`` blocks, and ``removed`` (destroy =
false) for objects nothing claims. Another state key (``--import``): ``import`` blocks
with each type's import id, and ``adopt/<env>.forget.tf``, the ``removed`` blocks the old
root needs to forget what moved. A tie, or an object whose import id tfgen cannot build,
stops it before anything is written.

A stack with components is adopted whole: every component of the environment is rendered,
their instances are pooled (``<component>:<address>``, references through remote state
resolved to the producer's resources) and matched against the one state jointly, so an
object goes to one component at most. Each component has a state of its own, so this is
always by import (``--import`` implied): ``adopt/<env>.yaml`` holds one section per
component, and ``adopt/<env>.forget.tf`` every old resource any component imports.

``gate`` reads ``terraform show -json PLANFILE`` and refuses a plan that deletes or
replaces anything, unless that address is allowed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.adopt.blocks import (
    Adoption,
    Import,
    Moved,
    address_problem,
    adoption_yaml,
    component_adoption_yaml,
    foreign_addresses,
    id_problem,
    removed_blocks,
)
from generator.adopt.importids import ImportIdError, import_id
from generator.adopt.match import Matching, Rename, match
from generator.adopt.plangate import GateResult, gate, read_plan
from generator.adopt.rendered import (
    RenderedInstance,
    component_address,
    component_instances,
    declared_resources,
    rendered_instances,
    split_component,
)
from generator.adopt.state import State, StateObject, read_state
from generator.components.graph import ComponentGraph
from generator.errors import ConfigError, OutputError, Problem, VerifyError
from generator.layout import ADOPT_DIR
from generator.output.safeio import replace_file
from generator.pipeline import RunOptions, render_units, render_verified
from generator.project import LoadedAdoption, Project, adoption_file, load_project
from generator.verify.rules import parse_rendered


@dataclass(frozen=True)
class AdoptReport:
    """What ``tfgen adopt`` decided and wrote."""

    environment: str
    state: State
    matching: Matching
    adoption: Adoption
    written: str  # the adoption file, as messages name it
    forget: str | None = None  # with --import: the old root's removed blocks
    partial: tuple[str, ...] = ()  # resources some of whose instances nothing claims
    # A stack with components: each component's section (its own addresses); the
    # adoption above then names them <component>:<address>.
    components: Mapping[str, Adoption] = field(default_factory=dict)
    implied_import: bool = False  # components, adopted without --import: import it is
    waves: tuple[tuple[str, ...], ...] = ()  # components: the order to plan and apply them

    @property
    def renames(self) -> tuple[Rename, ...]:
        """Matched objects the render would rename (and so replace)."""
        return self.matching.renames


def adopt(options: RunOptions, state_path: Path, *, imports: bool = False) -> AdoptReport:
    """Match ``options.environments[0]``'s render against a state; write ``adopt/<env>.yaml``.

    Args:
        options: the environment (one), ``--set`` values, variables and output root.
        state_path: ``terraform show -json`` output or a raw state.
        imports: the render gets a state key of its own: import blocks, not moves.

    Raises:
        ConfigError: a bad state file, a tie, or an import id tfgen cannot build
            (nothing is written).
        TfgenError: the environment does not render or verify, as ``render``.
    """
    project = load_project(options.project_dir)
    (name,) = options.environments
    display = _shown(state_path, options.project_dir)
    state = read_state(state_path, display)
    if project.graph is not None:
        graph = project.graph
        return _adopt_components(project, graph, options, state, display, imports=imports)
    rendered = render_verified(
        project,
        name,
        out_root=options.out_root,
        overrides=options.overrides,
        environ=options.environ,
    )
    parsed = _parsed(rendered.files, rendered.display)
    previous = project.load_adoption(name)
    pins = previous.adoption.pins if previous is not None else {}
    matching = _matched(project, rendered_instances(parsed), state, pins, display)
    by_old = {o.address: o for o in state.objects}
    removed, partial = _removed(state.objects, matching)
    if imports:
        adoption = Adoption(imports=tuple(_imports(matching, by_old, display)), pins=pins)
    else:
        moved = tuple(Moved(m.old, m.new, m.by) for m in matching.matches if m.old != m.new)
        adoption = Adoption(moved=moved, removed=removed, pins=pins)
    _check_addresses(adoption, display)
    path, shown = adoption_file(project.root, name)
    text = adoption_yaml(adoption, note=_note(name, display, state, "out/<env>/adopt.tf"))
    forget = _write(path, shown, text, by_old, matching, imports=imports)
    return AdoptReport(name, state, matching, adoption, shown, forget, partial)


def _adopt_components(
    project: Project,
    graph: ComponentGraph,
    options: RunOptions,
    state: State,
    display: str,
    *,
    imports: bool,
) -> AdoptReport:
    """:func:`adopt` for a stack with components: one joint matching, imports per component."""
    (name,) = options.environments
    units = render_units(
        project,
        name,
        out_root=options.out_root,
        overrides=options.overrides,
        environ=options.environ,
        adoption=False,  # its blocks are rewritten here; a stale one must not stop that
    )
    parsed = {str(u.component): _parsed(u.files, u.display) for u in units}
    previous = project.load_adoption(name)
    before = previous.components if previous is not None else {}
    if previous is not None:
        _check_pins(previous, parsed)
    pins = {
        old: None if new is None else component_address(component, new)
        for component, section in before.items()
        for old, new in section.pins.items()
    }
    matching = _matched(project, component_instances(parsed), state, pins, display)
    by_old = {o.address: o for o in state.objects}
    _, partial = _removed(state.objects, matching)
    found = _imports(matching, by_old, display)
    sections: dict[str, Adoption] = {}
    for component in graph.components:
        own = tuple(
            Import(address, item.id)
            for item in found
            for home, address in [split_component(item.to)]
            if home == component
        )
        empty = Adoption()
        sections[component] = Adoption(imports=own, pins=before.get(component, empty).pins)
        _check_addresses(sections[component], display)
    path, shown = adoption_file(project.root, name)
    note = _note(name, display, state, "out/<env>/<component>/adopt.tf")
    text = component_adoption_yaml(sections, note=note)
    forget = _write(path, shown, text, by_old, matching, imports=True)
    adoption = Adoption(imports=tuple(found))
    return AdoptReport(
        name,
        state,
        matching,
        adoption,
        shown,
        forget,
        partial,
        components=sections,
        implied_import=not imports,
        waves=graph.waves,
    )


def _parsed(files: Mapping[str, str], shown: str) -> dict[str, dict[str, Any]]:
    parsed, problems = parse_rendered(files, shown)
    if problems:  # verified already: only a parser change could get here
        raise VerifyError(*problems)
    return parsed


def _check_pins(previous: LoadedAdoption, parsed: Mapping[str, Mapping[str, Any]]) -> None:
    """Each component's pins name its own resources (its imports are rewritten anyway)."""
    problems = [
        problem
        for component, section in previous.components.items()
        for problem in foreign_addresses(
            component,
            section,
            declared_resources(parsed[component]),
            source=previous.source,
            lines=previous.lines,
            imports=False,
        )
    ]
    if problems:
        raise ConfigError(*problems)


def _matched(
    project: Project,
    rendered: Sequence[RenderedInstance],
    state: State,
    pins: Mapping[str, str | None],
    display: str,
) -> Matching:
    matching = match(rendered, state.objects, pins=pins, names=dict(project.stack.adopt_names))
    if matching.ties:
        raise ConfigError(
            *(_tie_problem(t.subject, t.candidates, t.shared, display) for t in matching.ties)
        )
    return matching


def _note(name: str, display: str, state: State, output: str) -> list[str]:
    return [
        f"Written by `tfgen adopt {name}` from {display} ({state.format}).",
        f"Review it; every render of the environment turns it into {output}.",
    ]


def _write(
    path: Path,
    shown: str,
    text: str,
    by_old: Mapping[str, StateObject],
    matching: Matching,
    *,
    imports: bool,
) -> str | None:
    """Write the adoption file and, for imports, the old root's forget file (its name)."""
    forget = None
    try:
        path.parent.mkdir(exist_ok=True)
        replace_file(path, text.encode("utf-8"))
        if imports:
            forget_path = path.with_name(f"{path.stem}.forget.tf")
            old_resources = sorted({by_old[m.old].resource for m in matching.matches})
            replace_file(forget_path, removed_blocks(old_resources).encode("utf-8"))
            forget = f"{ADOPT_DIR}/{forget_path.name}"
    except OSError as err:
        msg = f"cannot write it: {err.strerror or err}"
        raise OutputError.at(msg, path=shown) from err
    return forget


def check_plan(plan_path: Path, *, allow: Collection[str] = (), base: Path) -> GateResult:
    """Read a plan and find every change that deletes or replaces (see :func:`gate`).

    Raises:
        ConfigError: the plan file is unreadable or not a plan.
        VerifyError: the plan deletes or replaces an address not allowed (exit 3).
    """
    display = _shown(plan_path, base)
    result = gate(read_plan(plan_path, display), allow=allow)
    if result.refused:
        raise VerifyError(*(Problem(str(d), path=display) for d in result.refused))
    return result


def _shown(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def _tie_problem(
    subject: str, candidates: Sequence[str], shared: Sequence[str], display: str
) -> Problem:
    what = ", ".join(shared) or "nothing that tells them apart"
    msg = (
        f"{subject}: a tie between {' and '.join(candidates)} (both match on {what}); "
        "pin one by hand in the adoption file (pin: {old: new})"
    )
    return Problem(msg, path=display)


def _removed(
    objects: Sequence[StateObject], matching: Matching
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Resources nothing claims (forgotten, not destroyed), and resources claimed in part.

    A ``removed`` block names a whole resource, never one instance: a resource some of
    whose instances are claimed cannot get one, and is listed for a person to decide.
    """
    left = {o.address for o in matching.unmatched}
    by_resource: dict[str, list[StateObject]] = {}
    for obj in objects:
        by_resource.setdefault(obj.resource, []).append(obj)
    whole = sorted(r for r, objs in by_resource.items() if all(o.address in left for o in objs))
    partial = sorted(
        r
        for r, objs in by_resource.items()
        if r not in whole and any(o.address in left for o in objs)
    )
    return tuple(whole), tuple(partial)


def _imports(matching: Matching, by_old: Mapping[str, StateObject], display: str) -> list[Import]:
    found: list[Import] = []
    problems: list[Problem] = []
    for item in matching.matches:
        obj = by_old[item.old]
        try:
            value = import_id(obj.type, obj.attributes)
        except ImportIdError as err:
            problems.append(Problem(f"{item.old} ({obj.type}): {err}", path=display))
            continue
        why = id_problem(value)
        if why:
            problems.append(Problem(f"{item.old}: its import id {why}", path=display))
            continue
        found.append(Import(item.new, value))
    if problems:
        raise ConfigError(*problems)
    return found


def _check_addresses(adoption: Adoption, display: str) -> None:
    """Every address written must be one Terraform reads back as written (hostile states)."""
    problems = [
        Problem(f"{address!r}: {why}", path=display)
        for address in (
            *(m.old for m in adoption.moved),
            *(m.new for m in adoption.moved),
            *(i.to for i in adoption.imports),
        )
        if (why := address_problem(address))
    ]
    problems.extend(
        Problem(f"{address!r}: {why}", path=display)
        for address in adoption.removed
        if (why := address_problem(address, resource=True))
    )
    if problems:
        raise ConfigError(*problems)
