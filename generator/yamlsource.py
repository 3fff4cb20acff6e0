"""Read one YAML file safely: strict UTF-8, no duplicate keys, bounded aliases, key line numbers."""

from __future__ import annotations

import os
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.errors import ConfigError, Problem, TfgenError

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

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML mapping, the file it came from and the line of every key in it."""

    path: str
    data: dict[str, Any]
    lines: dict[KeyPath, int] = field(default_factory=dict)


def load_yaml_file(file: Path, display: str) -> YamlDoc:
    """Load ``file`` as a YAML mapping.

    Args:
        file: the file to read.
        display: how the file is named in errors (relative to the project).

    Returns:
        The mapping and a map from each dotted key path to its 1-based line.

    Raises:
        ConfigError: unreadable, not UTF-8, not YAML, not a mapping, duplicate keys,
            non-string keys or an alias expansion over the limit.
    """
    return parse_yaml_bytes(read_bounded(file, MAX_FILE_BYTES, display), display)


def parse_yaml_bytes(raw: bytes, display: str) -> YamlDoc:
    """Decode (strict UTF-8) and parse the bytes of a YAML file (see :func:`load_yaml_file`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        msg = f"not valid UTF-8 (byte 0x{raw[err.start]:02x})"
        raise ConfigError.at(msg, path=display, line=line) from err
    return parse_yaml(text, display)


def read_bounded(
    path: Path, limit: int, display: str, *, error: type[TfgenError] = ConfigError
) -> bytes:
    """Read a regular file of at most ``limit`` bytes, reading no more than ``limit + 1``.

    The file is opened without blocking (a FIFO planted in its place cannot hang the
    run) and refused unless it is a regular file; its size is checked from ``fstat``
    before anything is read, so a file of several GiB costs nothing, and a file that
    grows while it is read is caught by the one byte read past the limit.

    Args:
        path: the file to read (a symbolic link to a regular file is followed).
        limit: the largest size accepted, in bytes.
        display: how the file is named in errors (relative to the project).
        error: the TfgenError subclass raised (ConfigError unless the caller says).

    Returns:
        The file's bytes.

    Raises:
        TfgenError: ``error``, when the file cannot be opened, is not a regular file
            (a folder, FIFO, device or socket) or is larger than ``limit``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        msg = f"cannot read file: {err.strerror}"
        raise error.at(msg, path=display) from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            msg = f"not a regular file ({_file_kind(info.st_mode)}); refusing to read it"
            raise error.at(msg, path=display)
        if info.st_size > limit:
            msg = f"file is larger than {limit} bytes ({info.st_size} bytes); refusing to read it"
            raise error.at(msg, path=display)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        msg = f"cannot read file: {err.strerror}"
        raise error.at(msg, path=display) from err
    finally:
        os.close(fd)
    if size > limit:
        msg = f"file is larger than {limit} bytes (it grew while being read)"
        raise error.at(msg, path=display)
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that stops composing at :data:`MAX_DEPTH` levels or too many nodes.

    Both limits hold before any alias is followed, so memory stays bounded by the limits,
    not by what a hostile file asks for.
    """

    def __init__(self, text: str, display: str) -> None:
        super().__init__(text)
        self._display = display
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH or self._nodes > MAX_NODES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                msg = (
                    f"nested more than {MAX_DEPTH} levels deep"
                    if self._depth > MAX_DEPTH
                    else f"the document has more than {MAX_NODES} values"
                )
                raise ConfigError.at(msg, path=self._display, line=mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # The scanner looks ahead over every open '[' or '{' (quadratic time): refuse deep
        # flow nesting here, before the composer sees it.
        if self.flow_level >= MAX_DEPTH:
            msg = f"nested more than {MAX_DEPTH} levels deep"
            raise ConfigError.at(msg, path=self._display, line=self.line + 1)
        super().fetch_flow_collection_start(token_class)


def parse_yaml(text: str, display: str) -> YamlDoc:
    """Parse YAML text into a :class:`YamlDoc` (see :func:`load_yaml_file`)."""
    try:
        loader = _BoundedLoader(text, display)
    except yaml.reader.ReaderError as err:  # the reader checks every character up front
        raise _reader_error(err, text, display) from err
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDoc(path=display, data={})
        if not isinstance(node, yaml.MappingNode):
            msg = f"the top level must be a mapping of keys to values, not {_kind(node)}"
            raise ConfigError.at(msg, path=display, line=node.start_mark.line + 1)
        _check_expansion(node, display)
        lines: dict[KeyPath, int] = {}
        _walk(node, (), lines, display, set())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = err.problem or err.context or "invalid YAML"
        msg = f"YAML syntax error: {problem}"
        raise ConfigError.at(msg, path=display, line=line) from err
    except yaml.reader.ReaderError as err:
        raise _reader_error(err, text, display) from err
    except yaml.YAMLError as err:
        msg = f"YAML error: {err}"
        raise ConfigError.at(msg, path=display) from err
    finally:
        loader.dispose()
    return YamlDoc(path=display, data=data, lines=lines)


def _reader_error(err: yaml.reader.ReaderError, text: str, display: str) -> ConfigError:
    line = text[: err.position].count("\n") + 1
    code = err.character if isinstance(err.character, int) else ord(err.character)
    msg = f"character U+{code:04X} is not allowed in YAML (a control character)"
    return ConfigError(Problem(msg, path=display, line=line))


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.ScalarNode):
        return f"a scalar ({node.value!r})" if len(node.value) < 40 else "a scalar"
    return "a mapping"


def _check_expansion(root: yaml.Node, display: str) -> None:
    """Reject documents whose alias-expanded size passes the limit (billion laughs)."""
    sizes: dict[int, int] = {}
    # Iterative post-order walk, memoised per node object: shared (aliased) nodes are
    # counted once per reference without ever being expanded. `open_nodes` holds the
    # ancestors of the node being visited: meeting one again is an alias to itself.
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _children(node)
        if not done:
            if id(node) in sizes:
                continue
            if id(node) in open_nodes:
                msg = "an alias refers to a node that contains it (a recursive structure)"
                raise ConfigError.at(msg, path=display, line=node.start_mark.line + 1)
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        open_nodes.discard(id(node))
        total = 1 + sum(sizes[id(c)] for c in children)
        if total > MAX_EXPANDED_NODES:
            msg = (
                f"the document expands to more than {MAX_EXPANDED_NODES} values through "
                "aliases (a 'billion laughs' file?)"
            )
            raise ConfigError.at(msg, path=display, line=node.start_mark.line + 1)
        sizes[id(node)] = total


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _walk(
    node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int], display: str, seen: set[int]
) -> None:
    """Record the line of every mapping key; reject duplicate and non-string keys.

    Keys are compared after Unicode NFC normalisation: ``café`` written precomposed and
    decomposed are one key to Terraform, so two of them in one mapping are a duplicate.
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*prefix, str(index))] = item.start_mark.line + 1
            _walk(item, (*prefix, str(index)), lines, display, seen)
        return
    if not isinstance(node, yaml.MappingNode):
        return
    first_line: dict[str, tuple[str, int]] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == "tag:yaml.org,2002:merge":
            _walk(value_node, prefix, lines, display, seen)
            continue
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
            dotted = ".".join(prefix) or "<top level>"
            msg = "keys must be strings (quote it if it is meant as text)"
            raise ConfigError.at(msg, path=display, line=line, key=f"{dotted}[{key_node.value!r}]")
        key = key_node.value
        normal = unicodedata.normalize("NFC", key)
        if normal in first_line:
            first, where = first_line[normal]
            msg = f"duplicate key (first defined on line {where})"
            if first != key:
                msg = (
                    f"duplicate key: {key!r} and {first!r} (line {where}) are the same key "
                    "once Unicode-normalised (NFC), as Terraform reads them"
                )
            raise ConfigError.at(msg, path=display, line=line, key=".".join((*prefix, key)))
        first_line[normal] = (key, line)
        lines[(*prefix, key)] = line
        _walk(value_node, (*prefix, key), lines, display, seen)
