"""Which template line rendered each output line: errors in output point at the template.

Only run when verification found a problem (never on a good render): the template renders
again in the marking twin of the sandbox (:mod:`generator.engine.marks`), whose output names
the template line that wrote each piece, through the lines that included or called it.

The marks are trusted only if the marked render, once unmarked, is the render itself (a
filter that measures a macro's text, such as ``| center``, sees the marks too). Otherwise
:func:`template_lines` answers as before marks: after each chunk Jinja yields, the
generator's frame and Jinja's debug info name a template line, and literal text is matched to
its own lines of the source from there on (blind to includes and macros).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from generator.engine.marks import TEXT, Site, Trace, traced_lines
from generator.engine.sandbox import make_env
from generator.layout import TEMPLATE_SUFFIX

# How far past Jinja's nearest marker a literal line is looked for in the source.
_SEARCH_LINES = 400


def trace_output(
    templates_dir: Path,
    name: str,
    text: str,
    values: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> list[Trace | None]:
    """For each line of ``text`` (1-based index - 1): the template lines that wrote it.

    Args:
        templates_dir: the stack's folder (template names are relative to it).
        name: the template that rendered the text.
        text: what it rendered, its leading newlines dropped (as the output file holds it).
        values: what the template saw as ``env``.
        extra: the rest of its context (``component``), as the render gave it.

    Returns:
        Each line's trace, outermost first; None for a line no template line is known for.
    """
    context = {"env": values, **(extra or {})}
    try:
        marked = make_env(templates_dir, marked=True).get_template(name).render(context)
        traced = traced_lines(marked)
    except Exception:  # marks that a filter chokes on: located without them
        traced = None
    if traced is not None and traced[0].lstrip("\n") == text:
        rendered, traces = traced
    else:  # marks moved by a filter: located without them (blind to includes and macros)
        env = make_env(templates_dir)
        found = template_lines(env, templates_dir, name, values, extra)
        rendered = env.get_template(name).render(context)
        traces = [None if o is None else (Site(TEXT, *o),) for o in found]
    # the text drops the render's leading newlines (the output's header takes their place)
    return traces[len(rendered) - len(rendered.lstrip("\n")) :]


def template_lines(
    env: jinja2.Environment,
    templates_dir: Path,
    name: str,
    values: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> list[tuple[str, int] | None]:
    """For each line of the template's rendered text (1-based index - 1): (template, line).

    Without marks: the template line nearest to each chunk the template yields, and the
    lines of its literal text found in its source. What an included template or a macro
    writes is placed at the line that included or called it.

    Args:
        env: the stack's Jinja environment.
        templates_dir: the stack's folder (template names are relative to it).
        name: the template that rendered the file.
        values: what the template saw as ``env``.
        extra: the rest of its context (``component``), as the render gave it.
    """
    origins: list[tuple[str, int] | None] = [None]
    decided = [False]  # whether the current output line has its origin from non-blank text
    generator = env.get_template(name).generate(env=values, **(extra or {}))
    for chunk in generator:
        inner: Any = generator
        while getattr(inner, "gi_yieldfrom", None) is not None:
            inner = inner.gi_yieldfrom
        frame = getattr(inner, "gi_frame", None)
        where = _template_of(env, templates_dir, inner)
        if frame is None or where is None:
            continue
        rel, template = where
        code_line = frame.f_lineno
        exact = {code: line for line, code in template.debug_info}.get(code_line)
        source = template_source(env, rel)
        start = exact or template.get_corresponding_lineno(code_line)
        for index, piece in enumerate(chunk.split("\n")):
            if index > 0:
                origins.append(None)
                decided.append(False)
            line = start if exact else _find(source, piece, start)
            if not exact:
                start = line
            if origins[-1] is None or (piece.strip() and not decided[-1]):
                origins[-1] = (rel, line)
                decided[-1] = bool(piece.strip())
    return origins


def template_source(env: jinja2.Environment, name: str) -> list[str]:
    """The template's source lines."""
    loader = env.loader
    if loader is None:
        return []
    text, _filename, _uptodate = loader.get_source(env, name)
    return text.splitlines()


def _find(source: list[str], piece: str, start: int) -> int:
    """The first source line at or after ``start`` that holds this literal text."""
    wanted = piece.strip()
    if not wanted:
        return start
    window = range(start, min(len(source), start + _SEARCH_LINES) + 1)
    for number in window:
        if source[number - 1].strip().startswith(wanted):
            return number
    return next((n for n in window if wanted in source[n - 1]), start)


def _template_of(
    env: jinja2.Environment, templates_dir: Path, generator: Any
) -> tuple[str, jinja2.Template] | None:
    filename = generator.gi_code.co_filename
    if not filename.endswith(TEMPLATE_SUFFIX):
        return None
    path = Path(filename)
    rel = path.relative_to(templates_dir).as_posix() if path.is_relative_to(templates_dir) else ""
    if not rel:
        return None
    return rel, env.get_template(rel)
