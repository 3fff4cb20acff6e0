"""The Jinja sandbox every stack runs in: one factory, bounded, with its bytecode cache.

Templates, rules and derived values are code from a stack's author, so they run in Jinja's
``ImmutableSandboxedEnvironment`` (no Python internals, no mutation of values), with ``*``
and ``**`` bounded, template sources bounded, and a time limit. Compiled code is kept in
tfgen's private cache folder (:mod:`generator.cache`), keyed so that only an identically
configured sandbox reuses it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import jinja2
import jinja2.bccache
import jinja2.environment
import jinja2.nodes
import jinja2.parser
import jinja2.sandbox

from generator import cache
from generator.engine.filters import FILTERS
from generator.engine.tffunctions import FUNCTIONS

MAX_TEMPLATE_BYTES = 1024 * 1024  # a template's source
RENDER_SECONDS = 30  # rendering one environment, and evaluating a stack's rules
MAX_SEQUENCE = 1_000_000  # items or characters that `*` may build
MAX_EXPONENT = 4096


class _BoundedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that refuses oversized or non-regular template files unread."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        for folder in self.searchpath:
            path = Path(folder, *template.split("/"))
            with contextlib.suppress(OSError):
                info = path.stat()
                if not path.is_file():
                    msg = f"{template}: not a regular file"
                    raise jinja2.TemplateError(msg)
                if info.st_size > MAX_TEMPLATE_BYTES:
                    msg = f"{template}: a template may have at most {MAX_TEMPLATE_BYTES} bytes"
                    raise jinja2.TemplateError(msg)
        return super().get_source(environment, template)


class _StackSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` bounded so no expression can exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        del context
        if operator == "**":
            if isinstance(right, int) and abs(right) > MAX_EXPONENT:
                msg = f"exponent {right} is larger than {MAX_EXPONENT}"
                raise OverflowError(msg)
            return left**right
        for seq, count in ((left, right), (right, left)):
            sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
            if sized and len(seq) * count > MAX_SEQUENCE:
                msg = f"'*' would build {len(seq) * count} items, more than {MAX_SEQUENCE}"
                raise OverflowError(msg)
        return left * right


@functools.lru_cache(maxsize=8)
def make_env(templates_dir: Path) -> jinja2.Environment:
    """Return the one Jinja environment used for a templates folder (cached per folder).

    Strict: an undefined name is an error, never an empty string. Sandboxed: templates,
    rules and derived values of a stack reach no Python internals and change no value.
    """
    env = _StackSandbox(
        loader=_BoundedLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # HCL is not HTML; the hcl filters escape values
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    env.filters.update(FUNCTIONS)
    env.bytecode_cache = _bytecode_cache(env)
    return env


class RenderTimeout(Exception):
    """A render or a rule evaluation ran past its time bound."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise RenderTimeout in this thread after ``seconds`` (main thread only, else no limit)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
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


class _CompiledTemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja's own bytecode cache (user-private temp folder), salted, bounded, never fatal.

    Compiling the templates is most of a cold render's template time; a later process
    reuses the compiled code. Jinja keys each entry by template name and path and checks
    it against the template's source (SHA-1) and the Python version. The salt adds what
    else shapes the compiled code (Jinja version, syntax and whitespace settings, filter
    and test names), so an entry is only reused by an identically configured environment.

    Every copy of a project (tests make hundreds in temporary folders) adds its own
    entries, so the folder is kept to the newest CACHE_ENTRIES of ours. A cache that
    cannot be read or written is skipped: it never makes a render fail.
    """

    PATTERN = "__tfgen_%s.cache"
    CACHE_ENTRIES = 1000
    PRUNE_EVERY = 100  # writes between two prunings (and the first write of a process)

    def __init__(self, salt: str, directory: str) -> None:
        super().__init__(directory=directory, pattern=self.PATTERN)
        self.salt = salt
        self.writes = 0

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return super().get_cache_key(f"{self.salt}|{name}", filename)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):  # unreadable: compile
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        # A full or read-only disk only costs the next run a compile.
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)
            if self.writes % self.PRUNE_EVERY == 0:
                self._prune()
            self.writes += 1

    def _prune(self) -> None:
        prefix, suffix = self.PATTERN.split("%s")
        entries: list[tuple[float, str]] = []
        with os.scandir(self.directory) as found:
            for entry in found:
                if entry.name.startswith(prefix) and entry.name.endswith(suffix):
                    with contextlib.suppress(OSError):
                        entries.append((entry.stat().st_mtime, entry.path))
        if len(entries) <= self.CACHE_ENTRIES:
            return
        entries.sort()
        for _, path in entries[: len(entries) - self.CACHE_ENTRIES * 4 // 5]:
            with contextlib.suppress(OSError):
                os.unlink(path)  # noqa: PTH108 - a DirEntry path, as scandir gave it


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
    salt = hashlib.sha256(repr(settings).encode("utf-8")).hexdigest()[:16]
    folder = cache.folder("jinja")  # None: caches are off, or the folder is not private
    if folder is None:
        return None
    try:
        return _CompiledTemplateCache(salt, str(folder))
    except (OSError, RuntimeError):
        return None


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
        with contextlib.suppress(OSError, ValueError, EOFError):
            bucket = cache.get_bucket(env, f"<{name}>", None, source)
            code = bucket.code
    if code is None:
        code = env.compile(_expression_node(env, source) if expression else source)
        if cache is not None and bucket is not None:
            bucket.code = code
            with contextlib.suppress(OSError):
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
