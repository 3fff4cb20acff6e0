"""The few HCL expressions whose value tfgen knows per instance, offline.

tfgen's own output often says an instance's identity through ``count.index``:
``["10.0.0.0/19", "10.0.32.0/19"][count.index]``, ``format("%s-private-%s", "app",
["eu-west-1a", "eu-west-1b"][count.index])``, or through a reference to another resource:
``aws_subnet.private[count.index].id``. This evaluates exactly those forms (string and
number literals, lists, indexing, ``count.index``, ``each.key``, ``format`` with ``%s``
and ``%d``, and references) and gives up, returning :data:`UNKNOWN`, on anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from generator.adopt.state import IndexKey, instance_address

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\$%]|\\.|\$(?!\{)|%(?!\{))*")|(?P<number>\d+)'
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*)|(?P<punct>[\[\](),.]))"
)
_ESCAPES = {'\\"': '"', "\\\\": "\\", "\\n": "\n", "\\t": "\t", "\\r": "\r"}
_FORMAT_VERB = re.compile(r"%[sd%]")
MAX_LENGTH = 4096


class _Unknown:
    """A value tfgen cannot know offline."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Reference:
    """``aws_subnet.private[0].id``: an attribute of another resource instance."""

    parts: tuple[str | int, ...]

    def target(self) -> tuple[str, str] | None:
        """``(instance address, attribute)`` when this names one, else None."""
        parts = self.parts
        if len(parts) < 3 or not all(isinstance(p, str) for p in parts[:2]):
            return None
        kind, name = str(parts[0]), str(parts[1])
        if kind in ("var", "local", "data", "module", "path", "terraform", "count", "each"):
            return None
        rest = list(parts[2:])
        index: IndexKey = None
        if rest and isinstance(rest[0], int):
            index = rest.pop(0)
        elif rest and isinstance(rest[0], str) and rest[0].startswith('"'):
            index = str(rest.pop(0))[1:-1]
        if len(rest) != 1 or not isinstance(rest[0], str):
            return None
        return instance_address(f"{kind}.{name}", index), rest[0]

    def remote_output(self) -> tuple[str, str] | None:
        """``(component, output)`` of ``data.terraform_remote_state.<component>.outputs.<output>``.

        The form tfgen renders for ``{{ component.<component>.<output> }}``; None otherwise.
        """
        parts = self.parts
        if (
            len(parts) == 5
            and parts[:2] == ("data", "terraform_remote_state")
            and parts[3] == "outputs"
            and isinstance(parts[2], str)
            and isinstance(parts[4], str)
        ):
            return parts[2], parts[4]
        return None


def evaluate(raw: Any, index: IndexKey) -> Any:
    """The value of one attribute as python-hcl2 gives it, for the instance ``index``.

    Returns:
        A str, int or list for literals, a :class:`Reference`, or :data:`UNKNOWN`.
    """
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return UNKNOWN
    if isinstance(raw, int):
        return raw
    if len(raw) > MAX_LENGTH:
        return UNKNOWN
    text = raw[2:-1] if raw.startswith("${") and raw.endswith("}") else raw
    tokens = _tokens(text)
    if tokens is None:
        return UNKNOWN
    parser = _Parser(tokens, index)
    try:
        value = parser.expression()
    except (IndexError, ValueError, TypeError, RecursionError):
        return UNKNOWN
    return value if parser.done() else UNKNOWN


def _tokens(text: str) -> list[tuple[str, str]] | None:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            return None if text[position:].strip() else found
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], index: IndexKey) -> None:
        self._tokens = tokens
        self._at = 0
        self._index = index

    def done(self) -> bool:
        return self._at == len(self._tokens)

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self, value: str | None = None) -> tuple[str, str]:
        token = self._tokens[self._at]
        if value is not None and token[1] != value:
            raise ValueError(value)
        self._at += 1
        return token

    def expression(self) -> Any:
        value = self._primary()
        while (token := self._peek()) is not None and token[1] in ("[", "."):
            self._take()
            if token[1] == "[":
                key = self.expression()
                self._take("]")
                value = _index(value, key)
            else:
                name = self._take()
                value = (
                    Reference((*value.parts, name[1])) if isinstance(value, Reference) else UNKNOWN
                )
        return value

    def _primary(self) -> Any:
        kind, text = self._take()
        if kind == "string":
            return _string(text)
        if kind == "number":
            return int(text)
        if text == "[":
            items: list[Any] = []
            while self._peek() is not None and self._peek() != ("punct", "]"):
                items.append(self.expression())
                if self._peek() == ("punct", ","):
                    self._take()
            self._take("]")
            return items
        if kind == "name":
            if self._peek() == ("punct", "("):
                return self._call(text)
            return self._name(text)
        raise ValueError(text)

    def _name(self, first: str) -> Any:
        if (
            first == "count"
            and self._peek() == ("punct", ".")
            and self._tokens[self._at + 1][1] == "index"
        ):
            self._at += 2
            return self._index if isinstance(self._index, int) else UNKNOWN
        if (
            first == "each"
            and self._peek() == ("punct", ".")
            and self._tokens[self._at + 1][1] == "key"
        ):
            self._at += 2
            return self._index if isinstance(self._index, str) else UNKNOWN
        return Reference((first,))

    def _call(self, name: str) -> Any:
        self._take("(")
        args: list[Any] = []
        while self._peek() != ("punct", ")"):
            args.append(self.expression())
            if self._peek() == ("punct", ","):
                self._take()
        self._take(")")
        if name == "format" and args and all(isinstance(a, str | int) for a in args):
            return _format(args[0], args[1:])
        return UNKNOWN


def _index(value: Any, key: Any) -> Any:
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return value[key]
    if isinstance(value, Reference) and isinstance(key, int | str) and key is not UNKNOWN:
        return Reference((*value.parts, key if isinstance(key, int) else f'"{key}"'))
    return UNKNOWN


def _string(token: str) -> str:
    return re.sub(r"\\.", lambda m: _ESCAPES.get(m.group(0), m.group(0)), token[1:-1])


def _format(template: Any, args: list[Any]) -> Any:
    if not isinstance(template, str):
        return UNKNOWN
    values = iter(args)
    try:
        result = _FORMAT_VERB.sub(
            lambda m: "%" if m.group(0) == "%%" else str(next(values)), template
        )
    except StopIteration:
        return UNKNOWN
    return result if len(result) <= MAX_LENGTH else UNKNOWN
