"""The Jinja sandbox every stack runs in: one factory, bounded, with its bytecode cache.

Templates, rules and derived values are code from a stack's author, so they run in Jinja's
``ImmutableSandboxedEnvironment`` (no Python internals, no mutation of values), with ``*``
and ``**`` bounded, template sources bounded, and a time limit. Compiled code is kept in
tfgen's private cache folder (:mod:`generator.cache`), keyed so that only an identically
configured sandbox reuses it.

NOTE: over 400 lines: every bound on what stack code may do (operators, string building,
filters, loading, time) lives with the environment that enforces it, so that none is
installed apart from the others.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import itertools
import marshal
import os
import re
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import jinja2
import jinja2.bccache
import jinja2.environment
import jinja2.filters
import jinja2.nodes
import jinja2.parser
import jinja2.sandbox

from generator import cache
from generator.engine.filters import FILTERS
from generator.engine.formats import local_http
from generator.engine.marks import MarkingCodeGenerator
from generator.engine.tffunctions import FUNCTIONS

MAX_TEMPLATE_BYTES = 1024 * 1024  # a template's source
RENDER_SECONDS = 30  # rendering one environment, and evaluating a stack's rules
MAX_SEQUENCE = 1_000_000  # items or characters that `*` may build
MAX_EXPONENT = 4096
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class _ConfinedLoader(jinja2.BaseLoader):
    """Loads templates only as regular files inside the templates folder, never through a link.

    Each part of a template's name is opened relative to the folder before it without
    following links (``O_NOFOLLOW``), so a name with ``..``, an absolute name, a link
    (to a file or a folder, inside or outside), a FIFO or a device is refused with a
    message naming it, and nothing outside the folder is ever opened.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        del environment
        parts = template.split("/")
        if template.startswith("/") or any(p in ("", ".", "..") for p in parts):
            msg = f"{template}: not a template inside {self.root.name}/ (no '..' or absolute names)"
            raise jinja2.TemplateNotFound(template, msg)
        data = read_confined(self.root, parts, template)
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as err:
            msg = f"{template}: not UTF-8 text ({err.reason} at byte {err.start})"
            raise jinja2.TemplateError(msg) from err
        path = self.root.joinpath(*parts)
        loaded = _file_signature(path)
        # A long-lived process (a library caller, the tests) sees a template edited since it
        # was compiled: Jinja asks this before reusing it (one lstat).
        return source, str(path), lambda: _file_signature(path) == loaded

    def list_templates(self) -> list[str]:
        return []


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def read_confined(root: Path, parts: list[str], name: str) -> bytes:
    """The bytes of the regular file ``root/parts...``, reached without following any link.

    Raises:
        jinja2.TemplateNotFound: it is absent, a link, not a regular file or too large.
    """
    flags_dir = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
    try:
        fd = os.open(root, flags_dir)
    except OSError as err:
        raise jinja2.TemplateNotFound(name, f"{name}: {err.strerror}") from err
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            flags = (os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC) if last else flags_dir
            try:
                nxt = os.open(part, flags, dir_fd=fd)
            except OSError as err:
                why = "a link (links are refused)" if _is_link(part, fd, err) else err.strerror
                raise jinja2.TemplateNotFound(name, f"{name}: {why}") from err
            os.close(fd)
            fd = nxt
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise jinja2.TemplateNotFound(name, f"{name}: not a regular file")
        if info.st_size > MAX_TEMPLATE_BYTES:
            msg = f"{name}: a template may have at most {MAX_TEMPLATE_BYTES} bytes"
            raise jinja2.TemplateNotFound(name, msg)
        data = os.read(fd, MAX_TEMPLATE_BYTES + 1)
        if len(data) > MAX_TEMPLATE_BYTES:
            msg = f"{name}: a template may have at most {MAX_TEMPLATE_BYTES} bytes"
            raise jinja2.TemplateNotFound(name, msg)
        return data
    finally:
        os.close(fd)


def _is_link(name: str, dir_fd: int, err: OSError) -> bool:
    """Whether opening ``name`` failed because it is a link (ELOOP, or ENOTDIR for a folder)."""
    if err.errno == errno.ELOOP:
        return True
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


class _StackSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The sandbox, with everything that builds a string or list bounded like ``*``.

    ``*``, ``**`` and ``%`` are intercepted (so Jinja never folds them at compile time
    either); calls of ``str`` methods that build text from a width or a count (``ljust``,
    ``rjust``, ``center``, ``zfill``, ``expandtabs``, ``replace``, ``join``, ``format``,
    ``format_map``) are checked before they run.
    """

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        del context
        if operator == "**":
            if isinstance(right, int) and abs(right) > MAX_EXPONENT:
                msg = f"exponent {right} is larger than {MAX_EXPONENT}"
                raise OverflowError(msg)
            return left**right
        if operator == "%":
            if isinstance(left, str):
                check_percent_format(left)
            return left % right
        for seq, count in ((left, right), (right, left)):
            sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
            if sized and len(seq) * count > MAX_SEQUENCE:
                msg = f"'*' would build {len(seq) * count} items, more than {MAX_SEQUENCE}"
                raise OverflowError(msg)
        return left * right

    def call(
        __self,
        __context: jinja2.runtime.Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        target = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            name = getattr(target, "__name__", "")
            if name == "join" and args and not isinstance(args[0], str):
                args = (list(itertools.islice(iter(args[0]), MAX_SEQUENCE + 1)), *args[1:])
            check_str_call(owner, name, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def _too_long(size: int, what: str) -> None:
    if size > MAX_SEQUENCE:
        msg = f"{what} would build {size} characters, more than {MAX_SEQUENCE}"
        raise OverflowError(msg)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d*)(?:\.(\*|\d*))?")
_NUMBER = re.compile(r"\d+")


def check_percent_format(text: str) -> None:
    """Refuse a ``%`` format whose width or precision would build more than the bound."""
    for match in _PERCENT_SPEC.finditer(text):
        for group in match.groups():
            if group == "*":
                msg = "'%' with a '*' width or precision is not allowed"
                raise OverflowError(msg)
            if group and len(group) > 7:
                _too_long(int(group[:12]), "'%' formatting")
            elif group:
                _too_long(int(group), "'%' formatting")


def check_brace_format(text: str) -> None:
    """Refuse a ``str.format`` whose field widths or precisions would pass the bound."""
    import string

    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return  # format itself raises the error
    for _, _, spec, _ in fields:
        if not spec:
            continue
        if "{" in spec:
            msg = "format: a nested {...} width or precision is not allowed"
            raise OverflowError(msg)
        for number in _NUMBER.findall(spec):
            _too_long(int(number[:12]), "format")


def check_str_call(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a ``str`` method call that would build more than :data:`MAX_SEQUENCE` characters."""
    first = args[0] if args else None
    if name in ("ljust", "rjust", "center", "zfill"):
        width = first if first is not None else kwargs.get("width")
        if isinstance(width, int):
            _too_long(width, name)
    elif name == "expandtabs":
        size = first if first is not None else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            _too_long(len(text) + text.count("\t") * size, name)
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        check_replace(text, args[0], args[1], args[2] if len(args) > 2 else -1)
    elif name in ("format", "format_map"):
        check_brace_format(text)
    elif name == "join" and isinstance(first, list | tuple):
        check_join(text, first)


def check_replace(text: str, old: str, new: Any, count: Any) -> None:
    """Refuse a ``replace`` whose result would pass the bound."""
    if not isinstance(new, str):
        return
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    _too_long(len(text) + found * (len(new) - len(old)), "replace")


def check_join(separator: str, items: list[Any] | tuple[Any, ...]) -> None:
    """Refuse a ``join`` whose result would pass the bound."""
    _too_long(len(items), "join")
    size = len(separator) * len(items)
    size += sum(len(item) for item in items if isinstance(item, str))
    _too_long(size, "join")


@jinja2.pass_eval_context
def _bounded_join(
    eval_ctx: jinja2.nodes.EvalContext, value: Any, d: str = "", attribute: Any = None
) -> str:
    items = list(itertools.islice(iter(value), MAX_SEQUENCE + 1))
    if attribute is None:
        check_join(d, items)
    return str(jinja2.filters.do_join(eval_ctx, items, d, attribute))


@jinja2.pass_eval_context
def _bounded_replace(
    eval_ctx: jinja2.nodes.EvalContext, s: Any, old: Any, new: Any, count: Any = None
) -> str:
    if isinstance(s, str) and isinstance(old, str):
        check_replace(s, old, new, -1 if count is None else count)
    return jinja2.filters.do_replace(eval_ctx, s, old, new, count)


def _bounded_center(value: Any, width: int = 80) -> str:
    if isinstance(width, int):
        _too_long(width, "center")
    return jinja2.filters.do_center(value, width)


def _bounded_indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    if isinstance(width, int):
        _too_long(len(text) + (text.count("\n") + 1) * width, "indent")
    elif isinstance(width, str):
        _too_long(len(text) + (text.count("\n") + 1) * len(width), "indent")
    return jinja2.filters.do_indent(s, width, first, blank)


def _bounded_format(value: Any, *args: Any, **kwargs: Any) -> str:
    if isinstance(value, str):
        check_percent_format(value)
    return jinja2.filters.do_format(value, *args, **kwargs)


class _MarkingSandbox(_StackSandbox):
    """The same sandbox, whose compiled code marks its output with template lines (origins)."""

    code_generator_class = MarkingCodeGenerator


# Jinja's filters that build text from a width or count, checked first.
BOUNDED_FILTERS: dict[str, Callable[..., Any]] = {
    "join": _bounded_join,
    "replace": _bounded_replace,
    "center": _bounded_center,
    "indent": _bounded_indent,
    "format": _bounded_format,
}


@functools.lru_cache(maxsize=8)
def make_env(templates_dir: Path, *, marked: bool = False) -> jinja2.Environment:
    """Return the one Jinja environment used for a templates folder (cached per folder).

    Strict: an undefined name is an error, never an empty string. Sandboxed: templates,
    rules and derived values of a stack reach no Python internals and change no value.

    Args:
        templates_dir: the stack's templates folder.
        marked: the twin whose output is marked with the template line writing each piece
            (:mod:`generator.engine.marks`); only for locating an error, never for output.
    """
    kind = _MarkingSandbox if marked else _StackSandbox
    env = kind(
        loader=_ConfinedLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # HCL is not HTML; the hcl filters escape values
        auto_reload=True,  # see _ConfinedLoader.get_source's uptodate
    )
    env.filters.update(BOUNDED_FILTERS)
    env.filters.update(FILTERS)
    env.filters.update(FUNCTIONS)
    # `{% if url is local_http %}`: plain http on loopback, an emulator (see formats).
    env.tests["local_http"] = local_http
    env.bytecode_cache = _bytecode_cache(env)
    return env


class RenderTimeout(Exception):
    """A render or a rule evaluation ran past its time bound."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise RenderTimeout in this thread after ``seconds`` (main thread only, else no limit)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable or signal.getitimer(signal.ITIMER_REAL)[0] > 0:  # nested: the outer bound holds
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        msg = f"took longer than {seconds:g} seconds"
        raise RenderTimeout(msg)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _CompiledTemplateCache(jinja2.BytecodeCache):
    """Compiled template code in tfgen's sealed cache (:mod:`generator.cache`), never pickled.

    Compiling the templates is most of a cold render's template time; a later process
    reuses the compiled code. An entry is keyed by the template's name and the salt (Jinja
    version, syntax and whitespace settings, filter and test names, the Python version),
    holds the SHA-256 of the source it was compiled from and ``marshal`` of the code, and is
    sealed by :mod:`generator.cache`: only code this user's tfgen compiled is ever loaded
    (``marshal`` of anything else, planted or copied, never passes the seal). A cache that
    cannot be read or written is skipped: it never makes a render fail.
    """

    FOLDER = "jinja"
    MAX_ENTRY_BYTES = 4 * 1024 * 1024  # one template's compiled code

    def __init__(self, salt: str, folder: Path) -> None:
        self.salt = salt
        self.folder = folder

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return super().get_cache_key(f"{self.salt}|{sys.version}|{name}", filename)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = cache.read(self.folder, bucket.key, self.MAX_ENTRY_BYTES)
        if data is None:
            return
        checksum, _, body = data.partition(b"\0")
        if checksum.decode("ascii", "replace") != bucket.checksum:
            return  # the source changed: compile
        try:
            code = marshal.loads(body)  # noqa: S302 - sealed: code this user's tfgen compiled
        except (EOFError, ValueError, TypeError, MemoryError):
            return
        if isinstance(code, CodeType):
            bucket.code = code

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.code is None:
            return
        data = bucket.checksum.encode("ascii") + b"\0" + marshal.dumps(bucket.code)
        cache.write(self.folder, bucket.key, data, self.MAX_ENTRY_BYTES)


def _bytecode_cache(env: jinja2.Environment) -> jinja2.BytecodeCache | None:
    settings = (
        jinja2.__version__,
        type(env).__qualname__,
        sorted(getattr(env, "intercepted_binops", ())),
        env.block_start_string,
        env.block_end_string,
        env.variable_start_string,
        env.variable_end_string,
        env.comment_start_string,
        env.comment_end_string,
        env.line_statement_prefix,
        env.line_comment_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.keep_trailing_newline,
        env.newline_sequence,
        env.autoescape,
        env.optimized,
        sorted(env.extensions),
        sorted(env.filters),
        sorted(env.tests),
    )
    marks = getattr(env.code_generator_class, "FORMAT", None)
    # the marking twin's code also depends on its marks (the plain sandbox's key is unchanged)
    key = repr(settings) if marks is None else repr((settings, marks))
    salt = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    folder = cache.folder(_CompiledTemplateCache.FOLDER)  # None: caches are off
    return None if folder is None else _CompiledTemplateCache(salt, folder)


def compile_cached(
    env: jinja2.Environment,
    source: str,
    *,
    expression: bool,
    codes: dict[str, CodeType] | None = None,
) -> Any:
    """A template (or, with ``expression``, an expression) from text, reusing compiled code.

    Like ``env.from_string`` and ``env.compile_expression``, but the compiled code goes
    through the same bytecode cache as the templates, so a later process skips Jinja's code
    generation. A cached entry only exists for source that compiled, so a hit needs no parse.

    Args:
        env: the environment (its bytecode cache, if any, is used).
        source: the template or expression text.
        expression: compile an expression (its value is the result) instead of a template.
        codes: compiled code already at hand, by source (read first, and filled in).

    Raises:
        jinja2.TemplateSyntaxError: the source does not parse.
    """
    kind = "expression" if expression else "string"
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:24]
    name = f"{kind}:{digest}"
    cache = env.bytecode_cache
    bucket = None
    code = codes.get(name) if codes is not None else None
    if code is None and cache is not None:
        bucket = cache.get_bucket(env, f"<{name}>", None, source)
        code = bucket.code
    if code is None:
        code = env.compile(_expression_node(env, source) if expression else source)
        if cache is not None and bucket is not None:
            bucket.code = code
            cache.set_bucket(bucket)
    if codes is not None:
        codes[name] = code
    template = env.template_class.from_code(env, code, env.make_globals(None))
    if expression:
        return jinja2.environment.TemplateExpression(template, undefined_to_none=False)
    return template


def _expression_node(env: jinja2.Environment, source: str) -> jinja2.nodes.Template:
    """``result = <expression>`` as a template node, as ``compile_expression`` builds it."""
    parser = jinja2.parser.Parser(env, source, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        msg = "chunk after expression"
        raise jinja2.TemplateSyntaxError(msg, parser.stream.current.lineno, None, None)
    expr.set_environment(env)
    body = [jinja2.nodes.Assign(jinja2.nodes.Name("result", "store"), expr, lineno=1)]
    return jinja2.nodes.Template(body, lineno=1)
