"""Cached parses of YAML files: a file's data and the line of every key, keyed by its bytes.

PyYAML is pure Python here (about 20 ms for a stack file, 10 ms for an environment file,
plus its import); a warm run reads each file's parse back from tfgen's private cache
folder instead (:mod:`generator.cache`). An entry is keyed by the SHA-256 of the file's
exact bytes, the name it is shown under and the entry format, so an edit is never served
stale. Only an entry sealed by this user's tfgen is ever unmarshalled (see
:mod:`generator.cache`), and even then anything that is not exactly the shape this module
writes (plain data, string keys, bounded depth and size, lines as integers) is a miss,
and a miss parses the file again. Only files that parsed without error are ever stored, so a
hit is a file that passed every check of :mod:`generator.inputs.yamlsource`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from generator import cache
from generator.inputs.yamldoc import MAX_DEPTH, MAX_EXPANDED_NODES, YamlDoc

FOLDER = "yaml"
_FORMAT = 1
_LIMIT = 16 * 1024 * 1024


def entry_key(kind: str, display: str, raw: bytes, *extra: str) -> str:
    """The cache key of a file's parse: its bytes, its display name and what else shapes it."""
    digest = hashlib.sha256()
    for part in (kind, str(_FORMAT), display, *extra):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(raw)
    return digest.hexdigest()


def read(key: str, display: str) -> tuple[YamlDoc, Any] | None:
    """A stored parse (and the extra value stored with it), or None when absent or not valid."""
    entry = cache.read_value(FOLDER, key, _LIMIT)
    if not (isinstance(entry, tuple) and len(entry) == 4 and entry[0] == _FORMAT):
        return None
    _, body, lines, extra = entry
    if not (isinstance(body, dict) and _plain(body, 0, [0]) and _lines(lines)):
        return None
    return YamlDoc(path=display, data=body, lines=dict(lines)), extra


def write(key: str, doc: YamlDoc, extra: Any = None) -> None:
    """Store a parse; a value marshal cannot write, or a cache that is off, stores nothing."""
    cache.write_value(FOLDER, key, (_FORMAT, doc.data, list(doc.lines.items()), extra), _LIMIT)


def _plain(node: Any, depth: int, count: list[int]) -> bool:
    """Plain YAML data only: str, int, float, bool, None, lists and string-keyed dicts."""
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_EXPANDED_NODES:
        return False
    if node is None or isinstance(node, str | bool | int | float):
        return True
    if isinstance(node, list):
        return all(_plain(item, depth + 1, count) for item in node)
    if isinstance(node, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1, count) for k, v in node.items())
    return False


def _lines(lines: Any) -> bool:
    return isinstance(lines, list) and all(
        isinstance(item, tuple)
        and len(item) == 2
        and _key_path(item[0])
        and isinstance(item[1], int)
        and not isinstance(item[1], bool)
        for item in lines
    )


def _key_path(path: Any) -> bool:
    """A key path as YamlDoc keeps them: a tuple of strings."""
    return isinstance(path, tuple) and all(isinstance(p, str) for p in path)
