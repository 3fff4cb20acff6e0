"""One state per root module: find environments (or components) of a run sharing a state.

A stack with components gives each environment several states, one per component; each of
them must be unique across all environments of the run as well as within one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from generator.errors import ConfigError, Problem


@dataclass(frozen=True)
class StateKeyOrigin:
    """The file, line and dotted key that set a state key (where a collision is reported)."""

    path: str
    line: int | None
    key: str


@dataclass(frozen=True)
class StateRef:
    """Where one environment (or one component of it) keeps its state, and which file says so.

    ``origin`` is where its key is set; None: the environment file's ``backend.key``.
    """

    name: str
    source: str
    bucket: str
    key: str
    component: str | None = None
    origin: StateKeyOrigin | None = None

    @property
    def label(self) -> str:
        """How messages name it: ``environment 'dev'`` or ``component 'network' of 'dev'``."""
        if self.component is None:
            return f"environment {self.name!r}"
        return f"component {self.component!r} of environment {self.name!r}"


def state_key_collisions(
    refs: Sequence[StateRef], others: Sequence[StateRef] = ()
) -> dict[str, ConfigError]:
    """Find environments of a run that share a state ``(bucket, key)``.

    Args:
        refs: the environments of the run.
        others: environments outside the run that the run must not collide with
            either (the base environments of an ephemeral run).

    Returns:
        Environment name -> the error that names both files, for each environment
        of ``refs`` that shares a state with another environment or component
        (compared case-sensitively); a shared state fails the whole environment.
    """
    by_state: dict[tuple[str, str], list[StateRef]] = {}
    for ref in [*refs, *(o for o in others if o.name not in {r.name for r in refs})]:
        by_state.setdefault((ref.bucket, ref.key), []).append(ref)
    in_run = {r.name for r in refs}
    # (environment, where its key is set, the other environment, where the other's is set)
    # -> the shared pairs: the components of two environments whose backend.key is one
    # share every state, and that is one mistake, said once.
    shared: dict[tuple[str, StateKeyOrigin, str, str], list[tuple[StateRef, StateRef]]] = {}
    for sharing in by_state.values():
        if len(sharing) < 2:
            continue
        for ref in sharing:
            if ref.name not in in_run:
                continue
            for other in sharing:
                if other is not ref:
                    group = (ref.name, _origin(ref), other.name, _where(other))
                    shared.setdefault(group, []).append((ref, other))
    problems: dict[str, list[Problem]] = {}
    for (name, at, _other, where), pairs in shared.items():
        ref, other = pairs[0]
        if len(pairs) == 1:
            owner = "" if ref.component is None else f"{ref.label}: "
            message = (
                f"{owner}state s3://{ref.bucket}/{ref.key} is also the state of "
                f"{other.label} ({where}); {_why(ref, other)}"
            )
        else:
            mine = ", ".join(repr(r.component) for r, _ in pairs)
            states = ", ".join(f"s3://{r.bucket}/{r.key}" for r, _ in pairs)
            message = (
                f"components {mine} of environment {name!r}: states {states} are also "
                f"states of environment {other.name!r} ({where}); {_why(ref, other)}"
            )
        problems.setdefault(name, []).append(
            Problem(message, path=at.path, line=at.line, key=at.key)
        )
    return {name: ConfigError(*found) for name, found in problems.items()}


def _origin(ref: StateRef) -> StateKeyOrigin:
    return ref.origin or StateKeyOrigin(ref.source, None, "backend.key")


def _where(ref: StateRef) -> str:
    """The other root module's file, and the line of its key when it is set there."""
    origin = ref.origin
    if origin is None or origin.line is None:
        return ref.source
    return f"{origin.path}:{origin.line}"


def _why(ref: StateRef, other: StateRef) -> str:
    if ref.component is None and other.component is None:
        return (
            "two environments sharing one state overwrite each other's state: "
            "give one of them its own backend.key"
        )
    if _origin(ref).key.startswith("components."):
        return (
            "two root modules sharing one state overwrite each other's state: give one of "
            "them its own key (components.<name>.key in templates/stack.yaml)"
        )
    return (
        "two root modules sharing one state overwrite each other's state: give one of "
        "them its own backend.key (each component's key is derived from it)"
    )
