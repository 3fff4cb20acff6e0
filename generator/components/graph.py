"""The component graph of a stack: edges from references, the cycle check, apply waves.

Edges come from the references in the templates only (``component.<name>.<output>``),
never from an order declared apart from them, so the order cannot drift from the wiring.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.engine.references import Reference
from generator.engine.stack import Stack
from generator.errors import ConfigError, Problem


@dataclass(frozen=True)
class Edge:
    """``consumer`` reads ``producer``'s ``outputs`` (sorted); ``where`` is its first reference."""

    consumer: str
    producer: str
    where: Reference
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class ComponentGraph:
    """A stack's components, the edges between them and the order to apply them in.

    Attributes:
        components: the names, in declaration order.
        edges: one per (consumer, producer), sorted.
        waves: the apply order: each wave's components read only earlier waves'.
    """

    components: tuple[str, ...]
    edges: tuple[Edge, ...]
    waves: tuple[tuple[str, ...], ...]

    @property
    def destroy_waves(self) -> tuple[tuple[str, ...], ...]:
        """The destroy order: the apply waves reversed."""
        return tuple(reversed(self.waves))

    def producers_of(self, name: str) -> tuple[str, ...]:
        """The components ``name`` reads, sorted."""
        return tuple(sorted(e.producer for e in self.edges if e.consumer == name))

    def consumers_of(self, name: str) -> tuple[str, ...]:
        """The components that read ``name``, sorted."""
        return tuple(sorted(e.consumer for e in self.edges if e.producer == name))


def component_graph(stack: Stack) -> ComponentGraph | None:
    """The graph of ``stack``'s components, or None for a stack without components.

    Raises:
        ConfigError: the references form a cycle; one problem per edge of it, each at the
            template line of its reference, the first naming the whole path.
    """
    if not stack.components:
        return None
    names = tuple(c.name for c in stack.components)
    first: dict[tuple[str, str], Reference] = {}
    read: dict[tuple[str, str], set[str]] = {}
    for component in stack.components:
        for ref in component.references:
            first.setdefault((component.name, ref.producer), ref)
            read.setdefault((component.name, ref.producer), set()).add(ref.output)
    ordered = tuple(Edge(*k, first[k], tuple(sorted(read[k]))) for k in sorted(first))
    cycle = _find_cycle(names, ordered)
    if cycle:
        path = " -> ".join([*(e.consumer for e in cycle), cycle[0].consumer])
        problems = [
            Problem(
                f"components read each other in a cycle: {path} (a component is applied "
                "after every component it reads); "
                f"{e.consumer} reads {e.producer} here",
                path=e.where.file,
                line=e.where.line,
                key=f"component.{e.producer}.{e.where.output}",
            )
            for e in cycle
        ]
        raise ConfigError(*problems)
    return ComponentGraph(names, ordered, _waves(names, ordered))


def _find_cycle(names: tuple[str, ...], edges: tuple[Edge, ...]) -> list[Edge]:
    """The edges of the first cycle found (consumer -> producer, in path order), or []."""
    out: dict[str, list[Edge]] = {n: [] for n in names}
    for edge in edges:
        out[edge.consumer].append(edge)
    state: dict[str, int] = {}
    trail: list[Edge] = []

    def visit(node: str) -> list[Edge]:
        state[node] = 1
        for edge in out[node]:
            if state.get(edge.producer) == 1:
                start = next(
                    (i for i, e in enumerate(trail) if e.consumer == edge.producer), len(trail)
                )
                return [*trail[start:], edge]
            if edge.producer not in state:
                trail.append(edge)
                found = visit(edge.producer)
                if found:
                    return found
                trail.pop()
        state[node] = 2
        return []

    for name in names:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return []


def _waves(names: tuple[str, ...], edges: tuple[Edge, ...]) -> tuple[tuple[str, ...], ...]:
    """Layers of an acyclic graph: a component goes in the wave after its last producer."""
    level: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in level:
            producers = [e.producer for e in edges if e.consumer == name]
            level[name] = 1 + max((depth(p) for p in producers), default=-1)
        return level[name]

    for name in names:
        depth(name)
    count = max(level.values(), default=-1) + 1
    return tuple(tuple(n for n in names if level[n] == i) for i in range(count))


def graph_dot(graph: ComponentGraph, environments: tuple[str, ...] = ()) -> str:
    """The graph in Graphviz DOT: an arrow from each producer to its consumers.

    Node names are quoted: a component may be named like a DOT keyword (``node``, ``edge``).
    Each arrow is labelled with every output the consumer reads.
    """
    lines = ["digraph components {", "  rankdir=LR;"]
    if environments:
        lines.append(f'  label="{", ".join(environments)}";')
    for index, wave in enumerate(graph.waves):
        nodes = " ".join(f'"{name}";' for name in wave)
        lines.append(f"  subgraph wave_{index} {{ rank=same; {nodes} }}")
    lines.extend(
        f'  "{e.producer}" -> "{e.consumer}" [label={_dot_string(", ".join(e.outputs))}];'
        for e in graph.edges
    )
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_mermaid(graph: ComponentGraph) -> str:
    """The graph as a Mermaid flowchart: one subgraph per wave, producers before consumers.

    Each component is a node ``c_<name>["<name>"]``: a bare name could be a Mermaid
    keyword (``end``, ``graph``).
    """
    lines = ["flowchart LR"]
    for index, wave in enumerate(graph.waves):
        lines.append(f"  subgraph wave_{index}[wave {index}]")
        lines.extend(f'    c_{name}["{name}"]' for name in wave)
        lines.append("  end")
    lines.extend(
        f"  c_{e.producer} -->|{_mermaid_text(', '.join(e.outputs))}| c_{e.consumer}"
        for e in graph.edges
    )
    return "\n".join(lines) + "\n"


# Output names are read from the templates before any render checks them against the
# producer's outputs (``component.data["x"]`` may hold any string): they are escaped.
def _dot_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _mermaid_text(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("|", "#124;").replace("\n", " ") + '"'
