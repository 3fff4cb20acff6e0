"""Marks in rendered text that name the template line writing each piece of it.

The marking twin of the sandbox (``make_env(..., marked=True)``) compiles templates with
:class:`MarkingCodeGenerator`: each piece of literal text starts with its template and line;
each ``{{ }}``, ``{% include %}`` and ``{% call %}`` is bracketed with the line that wrote it.
An included template and a macro (of this or another file) are compiled the same way, so the
text they write carries their own template and line, inside the bracket of the line that
included or called them. :func:`traced_lines` reads the marks back out.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import jinja2.compiler
from jinja2 import nodes

# A mark is made of private-use characters only, so that no filter a template may apply to
# a macro's text (`| upper`, `| replace("a", "b")`, `| indent`) changes it: '\ue000', then
# "kind NUL template NUL line" with each character moved to plane 15 (U+F0000 on), then
# '\ue001' places literal text or opens a bracket; '\ue002' closes a bracket. A render that
# holds '\ue000'-'\ue002' by itself is never traced by marks.
_OPEN, _END, _CLOSE = "\ue000", "\ue001", "\ue002"
_SHIFT = 0xF0000
_MARK = re.compile(f"{_OPEN}([\U000f0000-\U000ffffd]*){_END}|{_CLOSE}")
_RESERVED = re.compile(f"[{_OPEN}-{_CLOSE}]")

TEXT = "text"  # literal text of a template, at its line
INCLUDE = "include"  # an {% include %}: what the included template writes
CALL = "call"  # a {{ }} that calls (a macro), or a {% call %} block: what the call writes
OUTPUT = "output"  # any other {{ }}: its value (a {% set %} block's text, say)


class Site(NamedTuple):
    """A template line that wrote text, as a mark names it."""

    kind: str  # TEXT, INCLUDE, CALL or OUTPUT
    template: str  # the template's name, relative to the stack's folder
    line: int


Trace = tuple[Site, ...]  # outermost first; the last is the line that wrote the text


def _mark(kind: str, template: str | None, line: int) -> str:
    payload = f"{kind}\0{template or ''}\0{line}"
    if any(ord(c) > 0xFFFD for c in payload):
        payload = f"{kind}\0\0{line}"  # a name past what plane 15 holds: known by its line
    return _OPEN + "".join(chr(_SHIFT + ord(c)) for c in payload) + _END


def _unmark(payload: str) -> Site | None:
    fields = "".join(chr(ord(c) - _SHIFT) for c in payload).split("\0")
    if len(fields) != 3 or not (fields[2].isascii() and fields[2].isdigit()):
        return None
    return Site(fields[0], fields[1], int(fields[2]))


class MarkingCodeGenerator(jinja2.compiler.CodeGenerator):
    """Jinja's code generator, with every piece of output marked with the line that wrote it.

    Used only by the marking twin of the sandbox (``make_env(..., marked=True)``); what the
    templates compute is unchanged, only their output carries marks.
    """

    FORMAT = "marks-1"  # in the compiled-code cache's key: change it when the marks change

    def _output_child_to_const(
        self,
        node: nodes.Expr,
        frame: jinja2.compiler.Frame,
        finalize: jinja2.compiler.CodeGenerator._FinalizeInfo,
    ) -> str:
        const = super()._output_child_to_const(node, frame, finalize)
        if not isinstance(node, nodes.TemplateData):  # an expression folded at compile time
            return _mark(OUTPUT, self.name, node.lineno) + const + _CLOSE
        # the mark goes before the first character that is not white space, at its line:
        # never alone on a line (`| indent` would indent it), never before what `| trim`
        # strips
        lead = len(const) - len(const.lstrip())
        if lead == len(const):
            return const
        line = node.lineno + const.count("\n", 0, lead)
        return const[:lead] + _mark(TEXT, self.name, line) + const[lead:]

    def _output_child_pre(
        self,
        node: nodes.Expr,
        frame: jinja2.compiler.Frame,
        finalize: jinja2.compiler.CodeGenerator._FinalizeInfo,
    ) -> None:
        kind = CALL if isinstance(node, nodes.Call) or node.find(nodes.Call) else OUTPUT
        self.write(f"{_mark(kind, self.name, node.lineno)!r} + ")
        super()._output_child_pre(node, frame, finalize)

    def _output_child_post(
        self,
        node: nodes.Expr,
        frame: jinja2.compiler.Frame,
        finalize: jinja2.compiler.CodeGenerator._FinalizeInfo,
    ) -> None:
        super()._output_child_post(node, frame, finalize)
        self.write(f" + {_CLOSE!r}")

    def visit_Include(self, node: nodes.Include, frame: jinja2.compiler.Frame) -> None:
        """An include, bracketed with its line: what the included template writes is inside."""
        self.simple_write(repr(_mark(INCLUDE, self.name, node.lineno)), frame)
        super().visit_Include(node, frame)
        self.simple_write(repr(_CLOSE), frame)

    def visit_CallBlock(self, node: nodes.CallBlock, frame: jinja2.compiler.Frame) -> None:
        """A ``{% call %}`` block, bracketed with its line: what the macro writes is inside."""
        self.simple_write(repr(_mark(CALL, self.name, node.lineno)), frame)
        super().visit_CallBlock(node, frame)
        self.simple_write(repr(_CLOSE), frame)


def traced_lines(marked: str) -> tuple[str, list[Trace | None]] | None:
    """The text without its marks, and for each of its lines the trace of who wrote it.

    A line's trace is taken at its first non-blank character (at its start if it is blank).

    Args:
        marked: what a template rendered in the marking sandbox.

    Returns:
        None if the marks do not nest (they were moved), or the text holds a reserved
        character of its own.
    """
    stack: list[Site] = []
    parts: list[str] = []
    traces: list[Trace | None] = [None]
    decided = False  # whether the current line has its trace from non-blank text

    def take(text: str) -> None:
        nonlocal decided
        for index, piece in enumerate(text.split("\n")):
            if index > 0:
                traces.append(None)
                decided = False
                if stack and stack[-1].kind == TEXT:  # literal text: the next source line
                    stack[-1] = stack[-1]._replace(line=stack[-1].line + 1)
            if traces[-1] is None or (piece.strip() and not decided):
                traces[-1] = tuple(stack)
                decided = bool(piece.strip())
        parts.append(text)

    start = 0
    for match in _MARK.finditer(marked):
        take(marked[start : match.start()])
        start = match.end()
        if match.group(0) == _CLOSE:
            while stack and stack[-1].kind == TEXT:
                stack.pop()
            if not stack:
                return None
            stack.pop()
            continue
        site = _unmark(match.group(1))
        if site is None:
            return None
        if site.kind == TEXT and stack and stack[-1].kind == TEXT:
            stack[-1] = site  # the same frame's text, further on
        else:
            stack.append(site)
    take(marked[start:])
    text = "".join(parts)
    if _RESERVED.search(text):
        return None
    return text, traces
