"""One state per environment: find environments of a run that share a state (bucket, key)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from generator.errors import ConfigError, Problem


@dataclass(frozen=True)
class StateRef:
    """Where one environment keeps its state, and which file says so."""

    name: str
    source: str
    bucket: str
    key: str


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
        of ``refs`` that shares its state with another (compared case-sensitively).
    """
    by_state: dict[tuple[str, str], list[StateRef]] = {}
    for ref in [*refs, *(o for o in others if o.name not in {r.name for r in refs})]:
        by_state.setdefault((ref.bucket, ref.key), []).append(ref)
    in_run = {r.name for r in refs}
    found: dict[str, ConfigError] = {}
    for (bucket, key), sharing in by_state.items():
        if len(sharing) < 2:
            continue
        for ref in sharing:
            if ref.name not in in_run:
                continue
            problems = [
                Problem(
                    f"state s3://{bucket}/{key} is also the state of environment "
                    f"{other.name!r} ({other.source}); two environments sharing one state "
                    "overwrite each other's state: give one of them its own backend.key",
                    path=ref.source,
                    key="backend.key",
                )
                for other in sharing
                if other is not ref
            ]
            found[ref.name] = ConfigError(*problems)
    return found
