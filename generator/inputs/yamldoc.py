"""A parsed YAML document with the line of every key, and the bounds every YAML parse obeys.

The lowest floor of :mod:`generator.inputs`: the reader (:mod:`generator.inputs.yamlsource`),
the parser (:mod:`generator.inputs.yamlparse`) and the cache of parsed files share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from generator.errors import KeyPath

# A document may not expand to more nodes than this once aliases are followed: a
# "billion laughs" file is rejected while still small, before anything is copied.
MAX_EXPANDED_NODES = 100_000
# Composing stops after this many distinct values: PyYAML is pure Python here (about 30 µs
# a value), so this bounds both the time and the memory a hostile file can take.
MAX_NODES = 20_000
# Environment files are a few KiB; this keeps a stray large file from being parsed at all.
MAX_FILE_BYTES = 256 * 1024
# Nesting deeper than this is refused while composing, long before Python's recursion limit
# (PyYAML composes recursively, about three frames per level).
MAX_DEPTH = 64


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML mapping, the file it came from and the line of every key in it."""

    path: str
    data: dict[str, Any]
    lines: dict[KeyPath, int] = field(default_factory=dict)


def same_key_once_normalised(key: str, first: str, line: int) -> str:
    """Why two different spellings are one key: Terraform reads keys NFC-normalised."""
    return (
        f"{key!r} and {first!r} (line {line}) are the same key once Unicode-normalised "
        "(NFC), as Terraform reads them"
    )
