"""PyYAML, bounded: the composer behind :func:`generator.inputs.yamlsource.parse_yaml`.

Loaded only when a file must really be parsed. Refuses nesting past MAX_DEPTH, more than
MAX_NODES values, alias expansion past MAX_EXPANDED_NODES, recursive aliases, duplicate
keys (also when equal once NFC-normalised), non-string keys and Python tags, each at its
line; records the line of every key and list item.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import yaml

from generator.errors import ConfigError, KeyPath, Problem
from generator.inputs.yamldoc import (
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_NODES,
    YamlDoc,
    same_key_once_normalised,
)


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


def parse_yaml_text(text: str, display: str) -> YamlDoc:
    """Parse YAML text into a :class:`YamlDoc`, bounded (see :mod:`generator.inputs.yamlsource`)."""
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
                msg = f"duplicate key: {same_key_once_normalised(key, first, where)}"
            raise ConfigError.at(msg, path=display, line=line, key=".".join((*prefix, key)))
        first_line[normal] = (key, line)
        lines[(*prefix, key)] = line
        _walk(value_node, (*prefix, key), lines, display, seen)
