"""Cached static scans of templates: what each includes and which component outputs it reads.

Scanning a component stack's templates means parsing each with Jinja (about 45 ms for the
shipped stack, most of a warm run's stack load). A warm run reads each template's scan back
from tfgen's private cache folder (:mod:`generator.cache`) instead. An entry is keyed by the
SHA-256 of the template's name, its exact source, Jinja's version and the entry format, so
an edit is never served stale. Only an entry sealed by this user's tfgen is ever
unmarshalled, and anything that is not exactly the shape written here (bounded tuples of
strings, and of two strings and a line number) is a miss; a miss parses the template again.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jinja2

from generator import cache

FOLDER = "scan"
_FORMAT = 1
_LIMIT = 1024 * 1024
_MAX_ITEMS = 100_000

Chain = tuple[str, str, int]  # producer, output, template line
Scan = tuple[tuple[str, ...], tuple[Chain, ...]]  # the templates it includes, its chains


def entry_key(name: str, source: str) -> str:
    """The cache key of one template's scan."""
    digest = hashlib.sha256()
    for part in ("scan", str(_FORMAT), jinja2.__version__, name):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(source.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def read(key: str) -> Scan | None:
    """A stored scan, or None when absent, not sealed by this user, or not of its shape."""
    entry = cache.read_value(FOLDER, key, _LIMIT)
    if not (isinstance(entry, tuple) and len(entry) == 3 and entry[0] == _FORMAT):
        return None
    _, targets, chains = entry
    if not (_strings(targets) and _chains(chains)):
        return None
    return targets, chains


def write(key: str, scan: Scan) -> None:
    """Store a scan; a cache that is off stores nothing."""
    cache.write_value(FOLDER, key, (_FORMAT, *scan), _LIMIT)


def _strings(value: Any) -> bool:
    return (
        type(value) is tuple
        and len(value) <= _MAX_ITEMS
        and all(type(item) is str for item in value)
    )


def _chains(value: Any) -> bool:
    return (
        type(value) is tuple
        and len(value) <= _MAX_ITEMS
        and all(
            type(item) is tuple
            and len(item) == 3
            and type(item[0]) is str
            and type(item[1]) is str
            and type(item[2]) is int
            and item[2] >= 0
            for item in value
        )
    )
