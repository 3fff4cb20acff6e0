"""The python-hcl2 boundary: parse HCL text, find repeated attributes, cache the result.

Everything tfgen knows about python-hcl2's and lark's internals is in this module. It
relies on:

- ``hcl2.parser.parser()``: a ``lark.Lark`` (LALR, ``propagate_positions=True``, python-hcl2's
  ``PostLexer``), cached by lark in ``hcl2.parser.PARSER_FILE`` beside the package, and the
  arguments it passes to ``Lark.open`` (repeated here to cache the compiled grammar in the
  user's cache folder when site-packages is read-only);
- lark's layout ``Lark.parser`` (``ParsingFrontend``) -> ``.parser`` (``LALR_Parser``) ->
  ``.parser`` (the parse-table driver) -> ``.callbacks``, whose entries wrap the tree
  builder in ``lark.parse_tree_builder.PropagatePositions`` (``.node_builder``);
- ``lark.visitors._VArgsWrapper``, the descriptor of python-hcl2's ``@v_args`` rule methods;
- ``hcl2.transformer.RuleTransformer`` and ``hcl2.api.serialize``, as ``hcl2.loads`` uses them;
- the rule names of python-hcl2's grammar (``body``, ``attribute``, ``block``, ``object``,
  ``object_elem``, ``object_elem_key``, ``expr_term``, ``identifier``, ``string``,
  ``string_part``) for the scan for repeated attributes and keys.

Fallback: when lark's internals are not laid out as expected, the parse is python-hcl2's
public ``parses_to_tree``, ``transform`` and ``serialize`` (exactly ``hcl2.loads``, a
quarter slower); when the grammar cannot be cached in the user's folder, it is python-hcl2's
own parser. The result is the same either way.

The parse cache (see :mod:`generator.cache`) holds, per exact text, the parsed structure and
the repeated names found, as JSON (never pickle: the folder is read as untrusted), keyed by
the SHA-256 of the text with python-hcl2's and lark's versions and :data:`VERIFY_VERSION`.
A missing, unreadable, corrupt, foreign or truncated entry is a miss. Only the parse is
cached: every verification rule still runs on every result.

NOTE: over 400 lines on purpose: this is the one place that knows python-hcl2's and lark's
internals; split, the assumptions listed above would spread over several modules.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator import cache
from generator.verify.reftree import Declared, Traversal, find_references

# Bump whenever what a cache entry holds, or how duplicates are found, changes.
VERIFY_VERSION = 3
PARSE_CACHE = "parse"
GRAMMAR_CACHE = "grammar"
# Entries above this size are neither written nor read.
MAX_ENTRY_BYTES = 8 * 1024 * 1024
# python-hcl2 8.1's compiled grammar takes about 0.5 MB.
MAX_GRAMMAR_BYTES = 64 * 1024 * 1024
_ENTRY_FORMAT = "tfgen-parse"

_STRING_ESCAPE = re.compile(r'\\(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[\\"nrt])|\$\$\{|%%\{|\$\{|%\{')
_SIMPLE = {
    "\\\\": "\\",
    '\\"': '"',
    "\\n": "\n",
    "\\r": "\r",
    "\\t": "\t",
    "$${": "${",
    "%%{": "%{",
}


class NotALiteralError(ValueError):
    """An HCL expression that was expected to be a plain string literal."""


def decode_hcl_string(raw: Any) -> str:
    """Turn a quoted HCL string literal, as python-hcl2 returns it, into its value.

    Raises:
        NotALiteralError: ``raw`` is not a quoted literal, or it interpolates
            (``${...}`` or ``%{...}``).
    """
    if not isinstance(raw, str) or len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
        msg = f"expected a quoted string literal, got {raw!r}"
        raise NotALiteralError(msg)

    def repl(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("${", "%{"):
            msg = f"expected a literal string, found a template sequence {token!r}"
            raise NotALiteralError(msg)
        if token in _SIMPLE:
            return _SIMPLE[token]
        return chr(int(token[2:], 16))

    return _STRING_ESCAPE.sub(repl, raw[1:-1])


@dataclass(frozen=True)
class Repeated:
    """A name given twice where Terraform takes it once: ``key`` at ``line``, and why."""

    key: str
    line: int
    message: str


@dataclass(frozen=True)
class Parsed:
    """One parsed text: python-hcl2's structure, every repeated name, its references."""

    result: dict[str, Any]
    repeated: tuple[Repeated, ...]
    references: tuple[Traversal, ...] = ()
    declared: tuple[Declared, ...] = ()


def parse(text: str, *, cached: bool = True) -> Parsed:
    """Parse ``text`` as python-hcl2 does, from the cache when it holds this exact text.

    With ``cached`` False the cache is neither read nor written: the backend file's
    verification is never served from a cache, however its entry was made.

    Raises:
        lark.exceptions.LarkError: the text is not valid HCL (never cached).
        ValueError: python-hcl2 refused a value while transforming.
    """
    if not cached:
        flat = parse_flat(text)
        if flat is not None:
            return flat
    sub = cache.folder(PARSE_CACHE) if cached else None
    key = cache_key(text)
    if sub is not None:
        hit = _load_entry(cache.read(sub, f"{key}.json", MAX_ENTRY_BYTES), key)
        if hit is not None:
            return hit
    tree = _parse_tree()(text)
    repeated = tuple(find_repeated(tree))
    refs, decls = find_references(tree)
    parsed = Parsed(_to_result()(tree), repeated, tuple(refs), tuple(decls))
    if sub is not None:
        data = _dump_entry(parsed, key)
        if data is not None:
            cache.write(sub, f"{key}.json", data, MAX_ENTRY_BYTES)
    return parsed


# A file of plain top-level attributes, as backend.hcl is: whole-line comments, and
# `name = "text"`, `true`, `false` or an integer. Text with anything else (a backslash, `$`,
# `%`, a non-ASCII character, a trailing comment, a block) is left to python-hcl2.
_FLAT_LINE = re.compile(
    r"[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*"
    r'("[\x20\x21\x23\x26-\x5b\x5d-\x7e]*"|true|false|-?(?:0|[1-9][0-9]{0,17}))[ \t]*'
)
_FLAT_COMMENT = re.compile(r"[ \t]*#([\x20-\x7e\t]*)")


def parse_flat(text: str) -> Parsed | None:
    """``text`` parsed exactly as python-hcl2 parses it, when it is plain attributes only.

    Without python-hcl2's grammar (loading it costs a warm run about 0.1 s), and without
    a cache: None when the text is anything but the plain form (see ``_FLAT_LINE``) or sets
    a name twice; python-hcl2 then reads it, with its exact messages.
    """
    result: dict[str, Any] = {}
    comments: list[dict[str, str]] = []
    for line in text.split("\n"):
        if not line.strip(" \t"):
            continue
        comment = _FLAT_COMMENT.fullmatch(line)
        if comment is not None:
            value = comment.group(1).strip(" \t")
            if value:
                comments.append({"value": value})
            continue
        match = _FLAT_LINE.fullmatch(line)
        if match is None or match.group(1) in result:
            return None
        raw = match.group(2)
        result[match.group(1)] = (
            raw if raw.startswith('"') else {"true": True, "false": False}.get(raw)
        )
        if result[match.group(1)] is None:
            result[match.group(1)] = int(raw)
    if comments:
        result["__comments__"] = comments
    return Parsed(result=result, repeated=())


def cache_key(text: str) -> str:
    """SHA-256 of the text, python-hcl2's and lark's versions and :data:`VERIFY_VERSION`."""
    digest = hashlib.sha256()
    digest.update(f"{_versions()}\0".encode())
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


@functools.cache
def _versions() -> str:
    """The parser's identity; read from the packages' version files, so a hit imports neither.

    (``importlib.metadata`` would take tens of milliseconds scanning site-packages.)
    """
    hcl2_version = _version_in("hcl2", "version.py")
    lark_version = _version_in("lark", "__init__.py")
    if hcl2_version is None or lark_version is None:
        import hcl2
        import lark

        hcl2_version, lark_version = str(getattr(hcl2, "__version__", "?")), lark.__version__
    return f"tfgen-verify={VERIFY_VERSION} python-hcl2={hcl2_version} lark={lark_version}"


_VERSION_LINE = re.compile(
    r"""^__version__\b[^=\n]*=\s*(?:version\s*=\s*)?['"]([^'"]+)['"]""", re.M
)


def _version_in(package: str, file: str) -> str | None:
    from importlib.util import find_spec

    try:
        spec = find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations)))
        match = _VERSION_LINE.search((folder / file).read_text(encoding="utf-8"))
    except (OSError, ValueError, ImportError, StopIteration):
        return None
    return match.group(1) if match else None


def syntax_error(err: Exception) -> tuple[bool, int | None, int | None]:
    """Whether ``err`` is the parser's refusal of the text, and the line and column it names.

    Lets callers catch python-hcl2's errors without importing lark before they happen.
    """
    import sys

    exceptions = sys.modules.get("lark.exceptions")
    if exceptions is None or not isinstance(err, exceptions.LarkError):
        return False, None, None
    if not isinstance(err, exceptions.UnexpectedInput):
        return True, None, None
    line, column = getattr(err, "line", None), getattr(err, "column", None)
    return (
        True,
        line if line not in (None, -1) else None,
        column if column not in (None, -1) else None,
    )


def _dump_entry(parsed: Parsed, key: str) -> bytes | None:
    entry = {
        "format": _ENTRY_FORMAT,
        "versions": _versions(),
        "key": key,
        "result": parsed.result,
        "repeated": [[r.key, r.line, r.message] for r in parsed.repeated],
        "references": [[list(t.names), t.line, t.top, list(t.meta)] for t in parsed.references],
        "declared": [[d.kind, list(d.names)] for d in parsed.declared],
    }
    try:
        data = json.dumps(entry, allow_nan=False, separators=(",", ":")).encode("ascii")
    except (TypeError, ValueError, RecursionError):  # not JSON: parse it every time
        return None
    return data if len(data) <= MAX_ENTRY_BYTES else None


def _load_entry(data: bytes | None, key: str) -> Parsed | None:
    """The entry's content when it is one of ours for exactly this key, else None (a miss)."""
    if data is None:
        return None
    try:
        entry = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not (
        isinstance(entry, dict)
        and entry.get("format") == _ENTRY_FORMAT
        and entry.get("versions") == _versions()
        and entry.get("key") == key
        and isinstance(entry.get("result"), dict)
        and isinstance(entry.get("repeated"), list)
    ):
        return None
    repeated: list[Repeated] = []
    for item in entry["repeated"]:
        if not (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and isinstance(item[1], int)
            and not isinstance(item[1], bool)
            and isinstance(item[2], str)
        ):
            return None
        repeated.append(Repeated(key=item[0], line=item[1], message=item[2]))
    try:
        refs = tuple(
            Traversal(tuple(str(n) for n in names), int(line), str(top), tuple(map(str, meta)))
            for names, line, top, meta in entry["references"]
        )
        decls = tuple(
            Declared(str(kind), tuple(str(n) for n in names)) for kind, names in entry["declared"]
        )
    except (KeyError, TypeError, ValueError):
        return None
    return Parsed(entry["result"], tuple(repeated), refs, decls)


# --------------------------------------------------------------------------- the parser


def _site_cache_usable(path: Path) -> bool:
    """Whether lark can keep python-hcl2's compiled grammar beside the package."""
    return path.exists() or os.access(path.parent, os.W_OK)


@functools.cache
def grammar() -> Any:
    """python-hcl2's Lark parser, its compiled grammar cached where it can be.

    Beside the package when that is writable (python-hcl2's own choice); otherwise in the
    user's cache folder, so a read-only site-packages does not pay for building it on
    every run. lark stores that file with pickle; it is only handed lark as a sealed entry
    of :mod:`generator.cache` (written by this user's tfgen), never by its path there.
    """
    import hcl2.parser

    if _site_cache_usable(Path(hcl2.parser.PARSER_FILE)):
        return hcl2.parser.parser()
    sub = cache.folder(GRAMMAR_CACHE)
    if sub is None:
        return hcl2.parser.parser()
    import lark
    from hcl2.postlexer import PostLexer

    name = f"hcl2-{_version_in('hcl2', 'version.py')}-lark-{lark.__version__}.bin"
    stored = cache.read(sub, name, MAX_GRAMMAR_BYTES)
    # lark reads its cache file with pickle: it only ever sees bytes sealed by this user's
    # tfgen, copied into a fresh private folder that nobody else can write.
    with tempfile.TemporaryDirectory(prefix="tfgen-grammar-") as private:
        path = Path(private, name)
        try:
            if stored is not None:
                path.write_bytes(stored)
            parser = lark.Lark.open(
                "hcl2.lark",
                parser="lalr",
                cache=str(path),
                rel_to=hcl2.parser.__file__,
                propagate_positions=True,
                postlex=PostLexer(),
            )
            if stored is None:
                cache.write(sub, name, path.read_bytes(), MAX_GRAMMAR_BYTES)
        except (OSError, lark.exceptions.LarkError):
            return hcl2.parser.parser()
    return parser


@functools.cache
def _frontend() -> Any:
    """The parsing frontend (lark's) of :func:`grammar`, without node positions; None if moved.

    python-hcl2 builds its parser with ``propagate_positions=True``, so every tree node
    gets the line and column range of its children: about a quarter of the parse time,
    and ``hcl2.loads`` puts none of it in its result (tokens keep their own lines). This
    copies the frontend (same grammar, parse table, lexer and post-lexer: the same syntax
    errors at the same token positions) with that position wrapper taken off its
    tree-building callbacks, leaving python-hcl2's own parser as it is.
    """
    try:
        from lark.parse_tree_builder import PropagatePositions

        frontend = copy.copy(grammar().parser)  # lark's ParsingFrontend
        frontend.parser = lalr = copy.copy(frontend.parser)  # LALR_Parser
        lalr.parser = table = copy.copy(lalr.parser)  # the parse-table driver
        table.callbacks = {
            rule: cb.node_builder if isinstance(cb, PropagatePositions) else cb
            for rule, cb in table.callbacks.items()
        }
    except (ImportError, AttributeError):
        return None
    return frontend


@functools.cache
def _parse_tree() -> Callable[[str], Any]:
    """Text -> lark tree, as ``hcl2.parses_to_tree`` (whose newline it appends too)."""
    frontend = _frontend()
    if frontend is None:
        import hcl2

        tree: Callable[[str], Any] = hcl2.parses_to_tree
        return tree
    return lambda text: frontend.parse(text + "\n")


@functools.cache
def _to_result() -> Callable[[Any], dict[str, Any]]:
    """Lark tree -> python-hcl2's structure, as ``hcl2.loads`` builds it."""
    import hcl2.api

    transformer = _rule_transformer()

    def to_result(tree: Any) -> dict[str, Any]:
        result: dict[str, Any] = hcl2.api.serialize(transformer().transform(tree))
        return result

    return to_result


@functools.cache
def _hcl_loads() -> Callable[[str], dict[str, Any]]:
    """``hcl2.loads``, through the fast frontend when lark's internals allow it."""
    import hcl2

    if _frontend() is None:
        loads: Callable[[str], dict[str, Any]] = hcl2.loads
        return loads
    tree, to_result = _parse_tree(), _to_result()
    return lambda text: to_result(tree(text))


def _rule_transformer() -> Callable[[], Any]:
    """The transformer of ``hcl2.api.transform``, its rule methods bound once per instance.

    lark wraps each ``@v_args`` method of python-hcl2's RuleTransformer in a descriptor that
    builds a new wrapper (``functools.update_wrapper`` included) every time the transformer
    looks a rule up, once per tree node. Binding each one on the instance, once, gives the
    transformer the very same bound wrapper without rebuilding it per node.
    """
    from hcl2.transformer import RuleTransformer

    try:
        from lark.visitors import _VArgsWrapper
    except ImportError:  # lark moved it: plain instances, as hcl2.api.transform makes them
        return lambda: RuleTransformer(discard_new_line_or_comments=False)
    names = sorted(
        {
            name
            for cls in RuleTransformer.__mro__
            for name, value in vars(cls).items()
            if isinstance(value, _VArgsWrapper)
        }
    )

    def make() -> Any:
        transformer = RuleTransformer(discard_new_line_or_comments=False)
        for name in names:
            setattr(transformer, name, getattr(transformer, name))
        return transformer

    return make


# --------------------------------------------------------------------------- repeated names


def find_repeated(tree: Any) -> list[Repeated]:
    """Every attribute set twice in one body, and every key given twice in one object.

    python-hcl2 keeps the last value silently; Terraform refuses a repeated attribute
    ("Attribute redefined") and keeps one of two object keys. Object keys are compared
    after Unicode NFC normalisation, as Terraform reads them. Keys that are not literal
    (``"${var.x}"``, ``(local.k)``) are not compared. Iterative: any nesting depth.
    """
    from lark import Token, Tree

    found: list[Repeated] = []
    stack: list[tuple[Any, tuple[str, ...]]] = [(tree, ())]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, Tree):
            continue
        children = [c for c in node.children if isinstance(c, Tree)]
        if node.data == "body":
            first: dict[str, int] = {}
            for child in children:
                if child.data == "attribute":
                    name, line = _name(child.children[0])
                    here = (*path, name)
                    if name in first:
                        message = f"set twice (first on line {first[name]})"
                        found.append(Repeated(".".join(here), line, message))
                    else:
                        first[name] = line
                    stack.append((child, here))
                elif child.data == "block":
                    labels = []
                    for part in child.children:
                        if isinstance(part, Token) or part.data in ("body", "new_line_or_comment"):
                            break
                        labels.append(_label(part))
                    stack.extend((c, (*path, *labels)) for c in child.children if _is(c, "body"))
                else:
                    stack.append((child, path))
        elif node.data == "object":
            seen: dict[str, tuple[str, int]] = {}
            for elem in children:
                literal = _object_key(elem) if elem.data == "object_elem" else None
                here = path
                if literal is not None:
                    key, line = literal
                    here = (*path, key)
                    normal = unicodedata.normalize("NFC", key)
                    if normal in seen:
                        other, where = seen[normal]
                        message = (
                            f"key {key!r} given twice in this object (first on line {where})"
                            if other == key
                            else f"keys {other!r} (line {where}) and {key!r} are the same key "
                            "once Unicode-normalised (NFC), as Terraform reads them"
                        ) + ": Terraform keeps only one"
                        found.append(Repeated(".".join(here), line, message))
                    else:
                        seen[normal] = (key, line)
                stack.append((elem, here))
        else:
            stack.extend((c, path) for c in children)
    found.sort(key=lambda r: r.line)
    return found


def _is(node: Any, data: str) -> bool:
    return getattr(node, "data", None) == data


def _first_token(node: Any) -> Any:
    """The first token under ``node`` (iteratively), or None."""
    from lark import Token

    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Token):
            return item
        stack.extend(reversed(getattr(item, "children", [])))
    return None


def _name(node: Any) -> tuple[str, int]:
    """An attribute's name (identifier, keyword or literal word) and its line."""
    token = _first_token(node)
    return (str(token), int(token.line or 0)) if token is not None else ("?", 0)


def _label(node: Any) -> str:
    """A block label: its identifier, or the value of a literal string (else its text)."""
    if _is(node, "string"):
        literal = _string_literal(node)
        if literal is not None:
            return literal[0]
    return _name(node)[0]


def _object_key(elem: Any) -> tuple[str, int] | None:
    """The literal key of an ``object_elem`` (a bare name or a plain string) and its line."""
    key = elem.children[0] if elem.children else None
    if key is None or not _is(key, "object_elem_key") or not key.children:
        return None
    inner = key.children[0]
    if _is(inner, "keyword"):
        return _name(inner)
    if not _is(inner, "expr_term") or len(inner.children) != 1:
        return None
    term = inner.children[0]
    if _is(term, "identifier"):
        return _name(term)
    if _is(term, "string"):
        return _string_literal(term)
    return None


def _string_literal(node: Any) -> tuple[str, int] | None:
    """The value of a ``string`` tree without interpolation or directives, and its line."""
    from lark import Token

    parts: list[str] = []
    for child in node.children:
        if isinstance(child, Token):
            parts.append(str(child))
        elif _is(child, "string_part") and all(isinstance(c, Token) for c in child.children):
            parts.extend(str(c) for c in child.children)
        else:
            return None
    token = _first_token(node)
    try:
        value = decode_hcl_string("".join(parts))
    except NotALiteralError:
        return None
    return value, int(getattr(token, "line", 0) or 0)
