"""The traversals and declarations of one parsed HCL tree (python-hcl2's lark grammar).

Part of the python-hcl2 boundary (:mod:`generator.verify.hclparse` calls it on the tree it
parsed, and caches the result): it knows the grammar's rule names (``block``, ``attribute``,
``expr_term``, ``get_attr_expr_term``, ``for_intro``, ``template_for_start``...). It gives
plain data that :mod:`generator.verify.references` checks against the module's declarations.

What is not a reference is left out here: attribute names and block labels, bare object
keys, function names, iterator names of ``for`` expressions and string-template ``for``
directives in their scope, a ``dynamic`` block's iterator in its ``content``, the names in
``ignore_changes``, a variable's ``type``, a resource's ``provider``, a module's
``providers``, and the addresses of ``moved``/``import``/``removed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Attributes whose value is not an expression of references, by the block they are in.
_NOT_EXPRESSIONS = {
    ("variable", "type"),
    ("resource", "provider"),
    ("data", "provider"),
    ("ephemeral", "provider"),
    ("module", "providers"),
    ("lifecycle", "ignore_changes"),
    ("moved", "from"),
    ("moved", "to"),
    ("import", "to"),
    ("import", "provider"),
    ("removed", "from"),
}


# Nested blocks where ``self`` names the object the enclosing resource block declares.
_SELF_BLOCKS = frozenset({"provisioner", "connection", "postcondition"})


@dataclass(frozen=True)
class Traversal:
    """A reference: its first names (``aws_s3_bucket``, ``b``), line and where it is valid.

    ``meta`` says which of ``count``, ``each`` and ``self`` are defined where it stands: the
    top-level block sets ``count`` or ``for_each``, or it is inside a provisioner, a connection
    or a postcondition.
    """

    names: tuple[str, ...]
    line: int
    top: str  # the top-level block it is in ("resource", "locals", ...)
    meta: tuple[str, ...] = ()


@dataclass(frozen=True)
class Declared:
    """What one file declares: ``kind`` (``resource``, ``data``, ``variable``...) and name."""

    kind: str
    names: tuple[str, ...]


def find_references(tree: Any) -> tuple[list[Traversal], list[Declared]]:
    """Every reference and every declaration in a parsed tree (``start`` -> ``body``)."""
    refs: list[Traversal] = []
    decls: list[Declared] = []
    body = _child(tree, "body")
    if body is None:
        return refs, decls
    for block in _children(body, "block"):
        kind, labels = _block_head(block)
        _declare(kind, labels, block, decls)
        inner = _child(block, "body")
        if inner is not None:
            sets = {_token_text(a.children[0]) for a in _children(inner, "attribute")}
            meta = tuple(m for m, arg in (("count", "count"), ("each", "for_each")) if arg in sets)
            _walk_body(inner, kind, _Where(kind, meta), frozenset(), refs)
    return refs, decls


@dataclass(frozen=True)
class _Where:
    """The top-level block a body is in, and the meta names defined there."""

    top: str
    meta: tuple[str, ...]


def _declare(kind: str, labels: list[str], block: Any, decls: list[Declared]) -> None:
    if kind in ("resource", "data", "ephemeral") and len(labels) == 2:
        decls.append(Declared(kind, (labels[0], labels[1])))
    elif kind in ("variable", "module", "output") and len(labels) == 1:
        decls.append(Declared(kind, (labels[0],)))
    elif kind == "locals":
        inner = _child(block, "body")
        attrs = _children(inner, "attribute") if inner is not None else []
        decls.extend(Declared("local", (_token_text(a.children[0]),)) for a in attrs)
    elif kind == "check":  # scoped data sources
        inner = _child(block, "body")
        for nested in _children(inner, "block") if inner is not None else []:
            sub, sub_labels = _block_head(nested)
            if sub == "data" and len(sub_labels) == 2:
                decls.append(Declared("data", (sub_labels[0], sub_labels[1])))


def _walk_body(
    body: Any, block: str, top: _Where, scope: frozenset[str], refs: list[Traversal]
) -> None:
    for child in getattr(body, "children", []):
        data = getattr(child, "data", None)
        if data == "attribute":
            name = _token_text(child.children[0])
            if (block, name) in _NOT_EXPRESSIONS or (block == "dynamic" and name == "iterator"):
                continue
            _walk_expr(child.children[-1], top, scope, refs)
        elif data == "block":
            kind, labels = _block_head(child)
            inner = _child(child, "body")
            if inner is None:
                continue
            inner_scope = scope
            if kind == "dynamic" and labels:
                iterator = labels[0]
                for attr in _children(inner, "attribute"):
                    if _token_text(attr.children[0]) == "iterator":
                        iterator = _token_text(attr.children[-1])
                inner_scope = scope | {iterator}
                for part in inner.children:
                    if _is(part, "attribute"):  # for_each, labels: the outer names
                        if _token_text(part.children[0]) != "iterator":
                            _walk_expr(part.children[-1], top, scope, refs)
                    elif _is(part, "block") and _child(part, "body") is not None:
                        _walk_body(_child(part, "body"), "content", top, inner_scope, refs)
                continue
            inner_top = top
            if kind in _SELF_BLOCKS and "self" not in top.meta:
                inner_top = _Where(top.top, (*top.meta, "self"))
            _walk_body(inner, kind, inner_top, inner_scope, refs)


def _walk_expr(node: Any, top: _Where, scope: frozenset[str], refs: list[Traversal]) -> None:
    """Every traversal under an expression, with the names bound by enclosing ``for``."""
    from lark import Token

    # (node, scope) pairs; a string's for directive binds its names until its endfor.
    stack: list[tuple[Any, frozenset[str]]] = [(node, scope)]
    while stack:
        item, names = stack.pop()
        if isinstance(item, Token) or item is None:
            continue
        data = item.data
        if data in ("for_tuple_expr", "for_object_expr"):
            intro = _child(item, "for_intro")
            bound = names | frozenset(_iterator_names(intro))
            for part in item.children:
                if _is(part, "for_intro"):
                    # its collection sees the outer names only
                    stack.extend((c, names) for c in part.children if not _is(c, "identifier"))
                else:
                    stack.append((part, bound))
            continue
        if data == "string":
            _walk_string(item, names, stack)
            continue
        if data == "object_elem":
            key = item.children[0] if item.children else None
            stack.extend((c, names) for c in item.children[1:])
            if _is(key, "object_elem_key") and not _bare_key(key):
                stack.append((key, names))
            continue
        if data == "function_call":
            stack.extend((c, names) for c in item.children if not _is(c, "identifier"))
            continue
        root = _traversal(item)
        if root is not None:
            first, line = root[0][0], root[1]
            if first not in names:
                refs.append(Traversal(root[0], line, top.top, top.meta))
            # index expressions inside the traversal still hold references
            stack.extend((i, names) for i in _indexes(item))
            continue
        stack.extend((c, names) for c in item.children)


def _walk_string(item: Any, names: frozenset[str], stack: list[tuple[Any, frozenset[str]]]) -> None:
    """A quoted template: interpolations, and ``%{ for }`` binding names to its ``endfor``."""
    scopes = [names]
    for part in item.children:
        for sub in getattr(part, "children", []):
            kind = getattr(sub, "data", None)
            if kind == "template_for_start":
                ids = [_token_text(c) for c in sub.children if _is(c, "identifier")]
                stack.extend((c, scopes[-1]) for c in sub.children if _is(c, "expr_term"))
                scopes.append(scopes[-1] | frozenset(ids))
            elif kind == "template_endfor" and len(scopes) > 1:
                scopes.pop()
            elif kind is not None:
                stack.append((sub, scopes[-1]))


def _traversal(node: Any) -> tuple[tuple[str, ...], int] | None:
    """The root name and first attribute names of a traversal expression, else None."""
    chain: list[str] = []
    current = node
    while True:
        data = getattr(current, "data", None)
        if data == "expr_term" and len(current.children) == 1:
            inner = current.children[0]
            if _is(inner, "identifier"):
                token = inner.children[0]
                return (str(token), *reversed(chain)), int(getattr(token, "line", 0) or 0)
            current = inner
        elif data == "get_attr_expr_term":
            attr = current.children[1]
            name = next((c for c in attr.children if _is(c, "identifier")), None)
            chain.append(_token_text(name) if name is not None else "")
            current = current.children[0]
        elif data in ("index_expr_term", "attr_splat_expr_term", "full_splat_expr_term"):
            chain.clear()  # names after an index are attributes of a value, not addresses
            current = current.children[0]
        else:
            return None


def _indexes(node: Any) -> list[Any]:
    """The index expressions (``[expr]``) along a traversal."""
    found: list[Any] = []
    stack = [node]
    while stack:
        item = stack.pop()
        for child in getattr(item, "children", []):
            if _is(child, "braces_index"):
                found.append(child)
            elif getattr(child, "data", None) in (
                "expr_term",
                "get_attr_expr_term",
                "index_expr_term",
                "attr_splat_expr_term",
                "full_splat_expr_term",
                "attr_splat",
                "full_splat",
            ):
                stack.append(child)
    return found


def _bare_key(key: Any) -> bool:
    """An object key written as a bare name (``{ Name = ... }``): a literal, not a reference."""
    inner: Any = key.children[0] if key.children else None
    if _is(inner, "keyword"):
        return True
    return bool(
        _is(inner, "expr_term")
        and len(inner.children) == 1
        and _is(inner.children[0], "identifier")
    )


def _iterator_names(intro: Any) -> list[str]:
    return [_token_text(c) for c in getattr(intro, "children", []) if _is(c, "identifier")]


def _block_head(block: Any) -> tuple[str, list[str]]:
    kind = _token_text(block.children[0])
    labels: list[str] = []
    for part in block.children[1:]:
        if not hasattr(part, "data") or part.data in ("body", "new_line_or_comment"):
            break
        if _is(part, "string"):
            labels.append("".join(_token_text(c) for c in part.children if _is(c, "string_part")))
        else:
            labels.append(_token_text(part))
    return kind, labels


def _child(node: Any, data: str) -> Any:
    return next((c for c in getattr(node, "children", []) if _is(c, data)), None)


def _children(node: Any, data: str) -> list[Any]:
    return [c for c in getattr(node, "children", []) if _is(c, data)]


def _is(node: Any, data: str) -> bool:
    return getattr(node, "data", None) == data


def _token_text(node: Any) -> str:
    """The text of the first token under ``node``."""
    from lark import Token

    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Token):
            return str(item)
        stack.extend(reversed(getattr(item, "children", [])))
    return ""
