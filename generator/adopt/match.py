"""Pair each rendered resource instance with at most one deployed object, offline.

Evidence, per pair of the same type: the literal identity values of tfgen's render
(``name``, ``bucket``, ``identifier``, ``cidr_block``, ``tags.Name``, ...) equal to the
object's attributes, and the same address. A pair is made only when each side is the
other's one best candidate; two candidates that are equally good are a tie, refused with
what they share. What evidence leaves unpaired, a type with exactly one rendered instance
and one object left pairs "by type". A hand-written pin overrides all of it.

Indexes by type and by (attribute, value), so the work grows with the number of objects,
not with its square.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from generator.adopt.rendered import RenderedInstance
from generator.adopt.state import StateObject

BY_TYPE = "type (the only one of each left)"
BY_ADDRESS = "address"
BY_PIN = "pin"
# Identity attributes whose change replaces the object in AWS (a rename is a new object).
REPLACING = ("name", "bucket", "identifier", "name_prefix", "cidr_block", "function_name")


@dataclass(frozen=True)
class Match:
    """``old`` (the state's address) is ``new`` (the render's), proven by ``by``."""

    old: str
    new: str
    by: tuple[str, ...]


@dataclass(frozen=True)
class Tie:
    """Several equally good candidates: refused, naming them and what they share.

    Attributes:
        subject: a rendered address whose candidates are objects of the state, or (with
            ``in_state``) an object of the state claimed equally by rendered instances.
        candidates: the equally good candidates.
        shared: the evidence they share.
        in_state: ``subject`` is the state's.
    """

    subject: str
    candidates: tuple[str, ...]
    shared: tuple[str, ...]
    in_state: bool = False

    @property
    def rendered(self) -> tuple[str, ...]:
        """The rendered addresses the tie holds back from matching."""
        return self.candidates if self.in_state else (self.subject,)


@dataclass(frozen=True)
class Rename:
    """A matched object whose deployed name differs from the render's: it would be replaced."""

    new: str
    attribute: str
    deployed: str
    rendered: str
    key: str | None  # the environment key that keeps the deployed name, if the stack says


@dataclass(frozen=True)
class Matching:
    """The matcher's result."""

    matches: tuple[Match, ...]
    ties: tuple[Tie, ...]
    unmatched: tuple[StateObject, ...]  # objects nothing in the render claims
    created: tuple[RenderedInstance, ...]  # rendered instances with no object
    renames: tuple[Rename, ...]


def object_value(obj: StateObject, attribute: str) -> Any:
    """An object's attribute by identity name (``tags.Name`` reads ``tags``)."""
    if attribute == "tags.Name":
        tags = obj.attributes.get("tags")
        return tags.get("Name") if isinstance(tags, Mapping) else None
    return obj.attributes.get(attribute)


def match(
    rendered: Sequence[RenderedInstance],
    objects: Sequence[StateObject],
    *,
    pins: Mapping[str, str | None] | None = None,
    names: Mapping[str, str] | None = None,
) -> Matching:
    """Match the render against the state.

    Args:
        rendered: every instance of the render (:func:`rendered_instances`).
        objects: every managed object of the state.
        pins: old address -> new address (None: leave the object unmatched), written by
            hand; they override the matcher for those addresses.
        names: ``<type>.<name>.<attribute>`` -> the environment key that sets it (the
            stack's ``adopt.names``), to say which key keeps a deployed name.

    Returns:
        Matches, ties, unmatched objects, instances to be created, and renames.
    """
    pins = pins or {}
    free_new = {r.address: r for r in rendered if r.expanded}
    free_old = {o.address: o for o in objects}
    matches: list[Match] = []
    for old, new in pins.items():
        free_old.pop(old, None)
        if new is not None and free_new.pop(new, None) is not None:
            matches.append(Match(old, new, (BY_PIN,)))
    by_type_new: dict[str, list[RenderedInstance]] = defaultdict(list)
    for item in free_new.values():
        by_type_new[item.type].append(item)
    by_type_old: dict[str, list[StateObject]] = defaultdict(list)
    for obj in free_old.values():
        by_type_old[obj.type].append(obj)
    by_old = {o.address: o for o in objects}
    matches, ties = _match_rounds(by_type_new, by_type_old, matches, by_old)
    taken_old = {m.old for m in matches}
    taken_new = {m.new for m in matches} | {a for t in ties for a in t.rendered}
    left_new: dict[str, list[RenderedInstance]] = defaultdict(list)
    for item in free_new.values():
        if item.address not in taken_new:
            left_new[item.type].append(item)
    left_old: dict[str, list[StateObject]] = defaultdict(list)
    for obj in free_old.values():
        if obj.address not in taken_old:
            left_old[obj.type].append(obj)
    tied_types = {free_new[a].type for t in ties for a in t.rendered if a in free_new}
    for kind, wanted in left_new.items():
        olds = left_old.get(kind, [])
        if len(wanted) == 1 and len(olds) == 1 and kind not in tied_types:
            matches.append(Match(olds[0].address, wanted[0].address, (BY_TYPE,)))
            taken_old.add(olds[0].address)
            taken_new.add(wanted[0].address)
    by_new = {r.address: r for r in rendered}
    return Matching(
        matches=tuple(sorted(matches, key=lambda m: m.new)),
        ties=tuple(ties),
        unmatched=tuple(o for o in free_old.values() if o.address not in taken_old),
        created=tuple(r for r in free_new.values() if r.address not in taken_new),
        renames=tuple(_renames(matches, by_old, by_new, names or {})),
    )


def _match_rounds(
    by_type_new: Mapping[str, list[RenderedInstance]],
    by_type_old: Mapping[str, list[StateObject]],
    pinned: list[Match],
    by_old: Mapping[str, StateObject],
) -> tuple[list[Match], list[Tie]]:
    """Match by identity, then again with references resolved through what matched.

    ``subnet_id = aws_subnet.private[0].id`` is known once ``aws_subnet.private[0]`` is
    matched: it is the matched object's ``id``. The other way round too: once an
    association is matched, the route table it names by ``route_table_id`` has that id.
    Each round can make the next one's evidence; the rounds stop when one adds no match.
    """
    by_new = {r.address: r for wanted in by_type_new.values() for r in wanted}
    matches = list(pinned)
    ties: list[Tie] = []
    done_new = {m.new for m in matches}
    done_old = {m.old for m in matches}
    while True:
        old_of = {m.new: by_old[m.old] for m in matches if m.old in by_old}
        known = _back_references(matches, by_new, by_old)
        ties = []
        added: list[Match] = []
        for kind, wanted in by_type_new.items():
            left = [
                _resolved(r, old_of, known.get(r.address, {}))
                for r in wanted
                if r.address not in done_new
            ]
            olds = [o for o in by_type_old.get(kind, []) if o.address not in done_old]
            found, tied = _match_type(left, olds)
            added.extend(found)
            ties.extend(tied)
        if not added:
            return matches, ties
        matches.extend(added)
        done_new |= {m.new for m in added}
        done_old |= {m.old for m in added}


def _back_references(
    matches: Sequence[Match],
    by_new: Mapping[str, RenderedInstance],
    by_old: Mapping[str, StateObject],
) -> dict[str, dict[str, str]]:
    """What matched instances say of the instances they reference: target -> attr -> value."""
    known: dict[str, dict[str, str]] = defaultdict(dict)
    for item in matches:
        rendered, obj = by_new.get(item.new), by_old.get(item.old)
        if rendered is None or obj is None:
            continue
        for attribute, (target, name) in rendered.references.items():
            value = obj.attributes.get(attribute)
            if isinstance(value, str) and value:
                known[target][name] = value
    return known


def _resolved(
    item: RenderedInstance, old_of: Mapping[str, StateObject], back: Mapping[str, str]
) -> RenderedInstance:
    """``item`` with its references read through matched objects, and what points at it."""
    known: dict[str, str] = dict(back)
    for attribute, (target, name) in item.references.items():
        obj = old_of.get(target)
        value = obj.attributes.get(name) if obj is not None else None
        if isinstance(value, str):
            known[attribute] = value
    if not known:
        return item
    return replace(item, identity={**item.identity, **known})


def _match_type(
    wanted: Sequence[RenderedInstance], objects: Sequence[StateObject]
) -> tuple[list[Match], list[Tie]]:
    """Mutual-best pairs among one type's instances and objects, by identity evidence."""
    index: dict[tuple[str, str], list[StateObject]] = defaultdict(list)
    attributes = {a for r in wanted for a in r.identity}
    for obj in objects:
        for attribute in attributes:
            value = object_value(obj, attribute)
            if isinstance(value, str):
                index[(attribute, value)].append(obj)
    by_address = {o.address: o for o in objects}
    evidence: dict[str, dict[str, list[str]]] = {}  # new -> old -> attributes
    for item in wanted:
        found: dict[str, list[str]] = defaultdict(list)
        for attribute, value in item.identity.items():
            for obj in index.get((attribute, value), []):
                found[obj.address].append(attribute)
        if item.own_address in by_address:  # a component's own address, unprefixed
            found[item.own_address].append(BY_ADDRESS)
        if found:
            evidence[item.address] = dict(found)
    best_of_old: dict[str, tuple[int, list[str]]] = {}
    for new, found in evidence.items():
        for old, why in found.items():
            score, news = best_of_old.get(old, (0, []))
            if len(why) > score:
                best_of_old[old] = (len(why), [new])
            elif len(why) == score:
                news.append(new)
    matches: list[Match] = []
    ties: list[Tie] = []
    claimed: set[str] = set()  # objects already reported as tied from the state's side
    for new, found in evidence.items():
        top = max(len(why) for why in found.values())
        best = sorted(old for old, why in found.items() if len(why) == top)
        if len(best) > 1:
            shared = sorted(set.intersection(*(set(found[o]) for o in best)))
            ties.append(Tie(new, tuple(best), tuple(shared)))
            continue
        old = best[0]
        score, rivals = best_of_old[old]
        if rivals == [new]:
            matches.append(Match(old, new, tuple(sorted(found[old]))))
        elif score == top and old not in claimed:
            claimed.add(old)
            shared = sorted(found[old])
            ties.append(Tie(old, tuple(sorted(rivals)), tuple(shared), in_state=True))
    return matches, ties


def _renames(
    matches: Sequence[Match],
    by_old: Mapping[str, StateObject],
    by_new: Mapping[str, RenderedInstance],
    names: Mapping[str, str],
) -> list[Rename]:
    found: list[Rename] = []
    for item in matches:
        obj, rendered = by_old.get(item.old), by_new.get(item.new)
        if obj is None or rendered is None:
            continue
        for attribute in REPLACING:
            wanted = rendered.identity.get(attribute)
            deployed = object_value(obj, attribute)
            if wanted is not None and isinstance(deployed, str) and deployed != wanted:
                key = names.get(f"{rendered.resource}.{attribute}")
                found.append(Rename(item.new, attribute, deployed, wanted, key))
    return found
