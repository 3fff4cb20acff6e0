"""Template syntax left in rendered text, outside what Terraform reads as data.

``{{``, ``{%`` or ``{#`` in Terraform code or a comment is Jinja that was never rendered.
Inside a string literal or a heredoc it is data Terraform passes on: an SSM document's
``{{ InstanceIds }}``, a Step Functions JSONata ``{% $states.input %}``, a mustache
template. A small scanner tells the two apart; it follows HCL's strings (escapes,
``$${``/``%%{``, and the code of ``${ }``/``%{ }`` inside them, nested), heredocs and
comments, and needs no parse (a file that does not parse is reported by the parser).
"""

from __future__ import annotations

import re

_JINJA = ("{{", "{%", "{#")
# The stack of modes the scanner is in: a string, or code with its depth of open braces
# (the code of an interpolation ends at the brace that closes it at depth 0).
_STRING = -1
_HEREDOC = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n")


def leftover_lines(text: str) -> list[int]:
    """The 1-based lines holding ``{{``, ``{%`` or ``{#`` in code or a comment."""
    found: set[int] = set()
    modes = [0]  # top-level code
    line, i, end = 1, 0, len(text)
    while i < end:
        char = text[i]
        pair = text[i : i + 2]
        if char == "\n":
            line += 1
            i += 1
            continue
        if modes[-1] == _STRING:
            if char == "\\":
                i += 2
                continue
            if pair in ("$$", "%%") and text[i + 2 : i + 3] == "{":
                i += 3
                continue
            if pair in ("${", "%{"):
                modes.append(0)
                i += 2
                continue
            if char == '"':
                modes.pop()
            i += 1
            continue
        # code
        if pair in _JINJA:
            found.add(line)
            i += 2
            continue
        if char == '"':
            modes.append(_STRING)
            i += 1
            continue
        if char == "#" or pair == "//":
            stop = text.find("\n", i)
            stop = end if stop < 0 else stop
            if any(j in text[i:stop] for j in _JINJA):
                found.add(line)
            i = stop
            continue
        if pair == "/*":
            stop = text.find("*/", i + 2)
            stop = end if stop < 0 else stop + 2
            for offset, part in enumerate(text[i:stop].split("\n")):
                if any(j in part for j in _JINJA):
                    found.add(line + offset)
            line += text.count("\n", i, stop)
            i = stop
            continue
        heredoc = _HEREDOC.match(text, i) if pair == "<<" else None
        if heredoc is not None:
            i, line = _skip_heredoc(text, heredoc, line)
            continue
        if char == "{":
            modes[-1] += 1
        elif char == "}" and len(modes) > 1:
            if modes[-1] == 0:
                modes.pop()  # the end of an interpolation: back into its string
            else:
                modes[-1] -= 1
        i += 1
    return sorted(found)


def _skip_heredoc(text: str, heredoc: re.Match[str], line: int) -> tuple[int, int]:
    """Past the heredoc that ``heredoc`` opens: (index after its closing marker, line)."""
    marker = heredoc.group(1)
    i = heredoc.end()
    line += 1
    while i < len(text):
        stop = text.find("\n", i)
        stop = len(text) if stop < 0 else stop
        if text[i:stop].strip() == marker:
            return stop, line
        i = stop + 1
        line += 1
    return len(text), line
