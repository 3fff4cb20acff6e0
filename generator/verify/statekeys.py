"""One state per root module: find environments (or components) of a run sharing a state.

A stack with components gives each environment several states, one per component; each of
them must be unique across all environments of the run as well as within one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from generator.errors import ConfigError, Problem


@dataclass(frozen=True)
class StateRef:
    """Where one environment (or one component of it) keeps its state, and which file says so."""

    name: str
    source: str
    bucket: str
    key: str
    component: str | None = None

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
    problems: dict[str, list[Problem]] = {}
    for (bucket, key), sharing in by_state.items():
        if len(sharing) < 2:
            continue
        for ref in sharing:
            if ref.name not in in_run:
                continue
            owner = "" if ref.component is None else f"{ref.label}: "
            problems.setdefault(ref.name, []).extend(
                Problem(
                    f"{owner}state s3://{bucket}/{key} is also the state of {other.label} "
                    f"({other.source}); {_why(ref, other)}",
                    path=ref.source,
                    key="backend.key",
                )
                for other in sharing
                if other is not ref
            )
    return {name: ConfigError(*found) for name, found in problems.items()}


def _why(ref: StateRef, other: StateRef) -> str:
    if ref.component is None and other.component is None:
        return (
            "two environments sharing one state overwrite each other's state: "
            "give one of them its own backend.key"
        )
    return (
        "two root modules sharing one state overwrite each other's state: give one of "
        "them its own key (components.<name>.key in templates/stack.yaml)"
    )
