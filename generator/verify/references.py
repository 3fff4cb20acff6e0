"""Every reference in a rendered root module starts at something that module declares.

A value that reached HCL without its filter (``name = {{ env.prefix }}`` renders
``name = acme-web-dev``) parses as a reference to nothing, and a typo in a resource, variable
or local name is the same: python-hcl2 reads both, and only ``terraform validate`` refuses
them later. This check refuses them at verification, with the line they are on.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from generator.errors import Problem
from generator.verify.reftree import Declared, Traversal

# Roots whose next name is always valid (Terraform defines them).
_BUILTIN = {"path": ("module", "root", "cwd"), "terraform": ("workspace", "applying")}
# Roots valid only inside some blocks: a resource, data source, module or ephemeral block,
# and ``each`` in an ``import`` block with ``for_each`` too (Terraform 1.7).
_OBJECT_BLOCKS = frozenset({"resource", "data", "module", "ephemeral"})
_OBJECT_ROOTS = {
    "count": _OBJECT_BLOCKS,
    "each": _OBJECT_BLOCKS | {"import"},
    "self": _OBJECT_BLOCKS,
}
_NAMED = {"var": "variable", "local": "local", "module": "module"}
# In the right kind of block, but the block does not define it (Terraform's "Reference to
# count in non-counted context" and its siblings, found at verification).
_META_MISSING = {
    "count": "count. is only defined in a {top} block that sets count",
    "each": "each. is only defined in a {top} block that sets for_each",
    "self": "self. is only defined inside a provisioner, connection or postcondition block",
}


def check_references(
    files: Mapping[str, tuple[tuple[Traversal, ...], tuple[Declared, ...]]], prefix: str
) -> list[Problem]:
    """One problem per reference that names nothing the module declares.

    Args:
        files: output file name -> its references and declarations (``*.tf`` files).
        prefix: how the output folder is named in messages (``out/prod``).

    Returns:
        The problems, at each file and line, in file and line order.
    """
    declared: dict[str, set[tuple[str, ...]]] = {}
    for _refs, decls in files.values():
        for decl in decls:
            declared.setdefault(decl.kind, set()).add(decl.names)
    problems: list[Problem] = []
    for name, (refs, _decls) in sorted(files.items()):
        seen: set[tuple[int, tuple[str, ...]]] = set()  # the same name twice on a line: once
        for ref in sorted(refs, key=lambda r: r.line):
            message = _problem(ref, declared)
            if message is not None and (ref.line, ref.names) not in seen:
                seen.add((ref.line, ref.names))
                problems.append(
                    Problem(
                        message, path=f"{prefix}/{name}", line=ref.line, key=".".join(ref.names)
                    )
                )
    return problems


def _problem(ref: Traversal, declared: Mapping[str, set[tuple[str, ...]]]) -> str | None:
    root, rest = ref.names[0], ref.names[1:]
    if root in _BUILTIN:
        return None if rest and rest[0] in _BUILTIN[root] else f"{root}. has no such attribute"
    if root in _OBJECT_ROOTS:
        if ref.top not in _OBJECT_ROOTS[root]:
            where = ", ".join(sorted(_OBJECT_ROOTS[root]))
            return f"{root}. is only defined inside these blocks: {where}"
        if root not in ref.meta:
            return _META_MISSING[root].format(top=ref.top)
        return None
    if root in _NAMED:
        kind = _NAMED[root]
        names = {n[0] for n in declared.get(kind, set())}
        if rest and rest[0] in names:
            return None
        what = rest[0] if rest else ""
        return f"no {kind} block declares {what!r}{_did_you_mean(what, names, root + '.')}"
    if root in ("data", "ephemeral"):
        pairs = declared.get(root, set())
        if len(rest) >= 2 and (rest[0], rest[1]) in pairs:
            return None
        address = ".".join(rest[:2])
        options = {".".join(p) for p in pairs}
        hint = _did_you_mean(address, options, root + ".")
        return f"no {root} block declares {address!r}{hint}"
    resources = declared.get("resource", set())
    if rest and (root, rest[0]) in resources:
        return None
    address = ".".join(ref.names[:2])
    options = {".".join(p) for p in resources}
    if not rest:
        return (
            f"{root!r} is not a reference to anything this module declares: an unquoted "
            "value? (values reach HCL through a filter, such as | hcl)"
        )
    return f"no resource block declares {address!r}{_did_you_mean(address, options)}"


def _did_you_mean(word: str, options: set[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""
