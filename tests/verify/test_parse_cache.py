"""The parse cache: a hit equals a fresh parse, a bad entry is a miss, a bad folder is no cache."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import hcl2.parser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import cache
from generator.engine.filters import hcl, hcl_attrs
from generator.errors import VerifyError
from generator.verify import hclparse as _hclparse
from generator.verify.rules import parse_hcl
from tests.conftest import ROOT

GOLDEN = sorted(
    p for p in (ROOT / "tests" / "golden").rglob("*") if p.is_file() and p.suffix in (".tf", ".hcl")
)
TEXT = 'bucket = "b"\nkey    = "k"\n'


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache home in tmp_path: the tests never touch the real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(cache.NO_CACHE_VARIABLE, raising=False)
    return tmp_path / "xdg" / "tfgen"


def entry(home: Path, text: str) -> Path:
    return home / _hclparse.PARSE_CACHE / f"{_hclparse.cache_key(text)}.json"


@pytest.fixture
def no_parser(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make any real parse fail: what is returned then came from the cache."""

    def refuse() -> Any:
        def parse(_text: str) -> Any:
            msg = "the parser ran: this was not a cache hit"
            raise AssertionError(msg)

        return parse

    with monkeypatch.context() as patch:
        patch.setattr(_hclparse, "_parse_tree", refuse)
        yield


def test_the_cache_folder_is_created_private(home: Path) -> None:
    _hclparse.parse(TEXT)
    for folder in (home, home / _hclparse.PARSE_CACHE):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(entry(home, TEXT).stat().st_mode) == 0o600


def test_every_golden_file_parses_the_same_from_the_cache(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert GOLDEN
    fresh = {}
    for path in GOLDEN:
        text = path.read_text(encoding="utf-8")
        fresh[path] = (text, _hclparse.parse(text))
        assert fresh[path][1].result == hcl2.loads(text), path
        assert entry(home, text).is_file(), path
    monkeypatch.setattr(_hclparse, "_parse_tree", None)  # a hit never reaches the parser
    for path, (text, first) in fresh.items():
        hit = _hclparse.parse(text)
        assert hit == first, path
        assert hit.result == hcl2.loads(text), path


@pytest.fixture
def seeded(home: Path) -> Path:
    """One entry written by a real parse."""
    _hclparse.parse(TEXT)
    path = entry(home, TEXT)
    assert path.is_file()
    return path


def test_hits_do_not_share_state(seeded: Path, no_parser: None) -> None:
    del seeded, no_parser
    first = _hclparse.parse(TEXT)
    first.result["bucket"] = "changed"
    assert _hclparse.parse(TEXT).result["bucket"] == '"b"'


def _payload(path: Path) -> bytes:
    """What tfgen stored in an entry, its seal checked."""
    data = cache.read(path.parent, path.name, _hclparse.MAX_ENTRY_BYTES)
    assert data is not None
    return data


def _seal(path: Path, data: bytes) -> None:
    """Store ``data`` as tfgen would (sealed with this user's key): only its shape is wrong."""
    cache.write(path.parent, path.name, data)


def _valid_entry(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_payload(path))
    return loaded


BAD_ENTRIES = {
    "not-json": lambda _good: b"\x00garbage{",
    "truncated": lambda good: good[: len(good) // 2],
    "empty": lambda _good: b"",
    "a-list": lambda _good: b"[]",
    "deeply-nested": lambda _good: b"[" * 100_000 + b"]" * 100_000,
    "other-versions": lambda good: _edit(good, versions="tfgen-verify=0 python-hcl2=1 lark=1"),
    "other-key": lambda good: _edit(good, key="0" * 64),
    "other-format": lambda good: _edit(good, format="pickle"),
    "result-not-a-map": lambda good: _edit(good, result=[1, 2]),
    "repeated-not-a-list": lambda good: _edit(good, repeated={"a": 1}),
    "repeated-wrong-shape": lambda good: _edit(good, repeated=[["k", "one", "m"]]),
    "repeated-bool-line": lambda good: _edit(good, repeated=[["k", True, "m"]]),
    "not-utf8": lambda good: b"\xff\xfe" + good,
}


def _edit(good: bytes, **changes: Any) -> bytes:
    data = json.loads(good)
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize("make", BAD_ENTRIES.values(), ids=BAD_ENTRIES.keys())
def test_a_corrupt_or_foreign_entry_is_a_miss(seeded: Path, make: Any) -> None:
    good = _payload(seeded)
    _seal(seeded, make(good))
    parsed = _hclparse.parse(TEXT)
    assert parsed.result == hcl2.loads(TEXT)
    assert _payload(seeded) == good  # the miss wrote the right entry back


def test_an_entry_over_the_size_bound_is_not_read(seeded: Path) -> None:
    with seeded.open("r+b") as handle:
        handle.truncate(_hclparse.MAX_ENTRY_BYTES + 1)  # sparse
    assert _hclparse.parse(TEXT).result == hcl2.loads(TEXT)


def test_a_linked_entry_is_not_followed(seeded: Path, tmp_path: Path) -> None:
    # A well-formed entry for this very text, but reached through a link: not ours.
    elsewhere = tmp_path / "elsewhere.json"
    data = _valid_entry(seeded)
    data["result"] = {"bucket": '"planted"'}
    _seal(seeded, json.dumps(data).encode())
    seeded.rename(elsewhere)
    seeded.symlink_to(elsewhere)
    assert _hclparse.parse(TEXT).result == hcl2.loads(TEXT)


def test_a_fifo_entry_does_not_block(seeded: Path) -> None:
    seeded.unlink()
    os.mkfifo(seeded)
    assert _hclparse.parse(TEXT).result == hcl2.loads(TEXT)


def test_a_foreign_owned_entry_is_a_miss(seeded: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    data = _valid_entry(seeded)
    data["result"] = {"bucket": '"planted"'}
    _seal(seeded, json.dumps(data).encode())
    os.chown(seeded, 12345, 12345)
    assert _hclparse.parse(TEXT).result == hcl2.loads(TEXT)


def _assert_no_cache_used(home: Path) -> None:
    parsed = _hclparse.parse(TEXT)
    assert parsed.result == hcl2.loads(TEXT)
    assert not entry(home, TEXT).exists()


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777, 0o720])
def test_a_folder_writable_by_others_turns_the_cache_off(home: Path, mode: int) -> None:
    home.mkdir(parents=True)
    home.chmod(mode)
    assert cache.folder(_hclparse.PARSE_CACHE) is None
    _assert_no_cache_used(home)


def test_a_group_writable_subfolder_turns_the_cache_off(home: Path) -> None:
    (home / _hclparse.PARSE_CACHE).mkdir(parents=True)
    (home / _hclparse.PARSE_CACHE).chmod(0o775)
    _assert_no_cache_used(home)


def test_a_foreign_owned_folder_turns_the_cache_off(home: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a folder's owner needs root")
    home.mkdir(parents=True, mode=0o700)
    os.chown(home, 12345, 12345)
    _assert_no_cache_used(home)


def test_a_linked_folder_turns_the_cache_off(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    home.parent.mkdir(parents=True)
    home.symlink_to(target, target_is_directory=True)
    _assert_no_cache_used(home)
    assert list(target.iterdir()) == []


def test_a_file_in_place_of_the_folder_turns_the_cache_off(home: Path) -> None:
    home.parent.mkdir(parents=True)
    home.write_text("not a folder", encoding="utf-8")
    _assert_no_cache_used(home)


@pytest.mark.parametrize("value", ["1", "yes", "true"])
def test_tfgen_no_cache_writes_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(cache.NO_CACHE_VARIABLE, value)
    assert not cache.enabled()
    assert cache.folder(_hclparse.PARSE_CACHE) is None
    _hclparse.parse(TEXT)
    assert not home.parent.exists()


def test_tfgen_no_cache_ignores_an_existing_entry(
    seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _valid_entry(seeded)
    data["result"] = {"bucket": '"from the cache"'}
    _seal(seeded, json.dumps(data).encode())
    assert _hclparse.parse(TEXT).result == {"bucket": '"from the cache"'}  # a hit, as written
    monkeypatch.setenv(cache.NO_CACHE_VARIABLE, "1")
    assert _hclparse.parse(TEXT).result == hcl2.loads(TEXT)


def test_tfgen_no_cache_0_keeps_the_cache(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.NO_CACHE_VARIABLE, "0")
    assert cache.enabled()
    _hclparse.parse(TEXT)
    assert entry(home, TEXT).is_file()


def test_a_relative_xdg_cache_home_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", "/nonexistent-home")
    assert cache.root() == Path("/nonexistent-home/.cache/tfgen")


def test_syntax_errors_are_never_cached(home: Path) -> None:
    broken = "a = \n"
    for _ in range(2):
        with pytest.raises(VerifyError, match=r"not valid HCL"):
            parse_hcl("out/dev/main.tf", broken)
    assert not entry(home, broken).exists()


def test_repeated_attributes_are_reported_from_a_hit_too(home: Path) -> None:
    text = 'bucket = "a"\nkey = "k"\nbucket = "b"\n'
    messages = []
    for _ in range(2):
        with pytest.raises(VerifyError) as err:
            parse_hcl("out/dev/main.tf", text)
        messages.append(str(err.value))
    assert entry(home, text).is_file()
    assert messages == ["out/dev/main.tf:3: bucket: set twice (first on line 1)"] * 2


def test_the_key_changes_with_the_text_and_the_parser_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _hclparse.cache_key("a = 1\n") != _hclparse.cache_key("a = 1\n\n")
    before = _hclparse.cache_key("a = 1\n")
    monkeypatch.setattr(_hclparse, "VERIFY_VERSION", _hclparse.VERIFY_VERSION + 1)
    _hclparse._versions.cache_clear()
    try:
        assert _hclparse.cache_key("a = 1\n") != before
    finally:
        monkeypatch.undo()
        _hclparse._versions.cache_clear()
    assert _hclparse.cache_key("a = 1\n") == before


def test_prune_keeps_the_newest_entries_within_the_bounds(tmp_path: Path) -> None:
    for index in range(20):
        path = tmp_path / f"{index:02}.json"
        path.write_bytes(b"x" * 10)
        os.utime(path, ns=(index * 10**9, index * 10**9))
    (tmp_path / "keep-me").mkdir()
    cache.prune(tmp_path, max_entries=10, max_bytes=10_000)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [*(f"{i:02}.json" for i in range(11, 20)), "keep-me"]
    cache.prune(tmp_path, max_entries=100, max_bytes=50)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        *(f"{i:02}.json" for i in range(16, 20)),
        "keep-me",
    ]


def test_writing_prunes(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "PRUNE_EVERY", 1)
    monkeypatch.setattr(cache.prune, "__defaults__", (5, cache.MAX_BYTES))
    for index in range(12):
        _hclparse.parse(f"a = {index}\n")
    assert len(list((home / _hclparse.PARSE_CACHE).iterdir())) <= 5


# --------------------------------------------------------------------------- hypothesis

KEYS = st.text(min_size=1, max_size=12)
SCALARS = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=20)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4)
)


# 200 examples even in CI: each parses twice through lark (about 80 ms); the 500-example
# properties of test_properties.py already drive the same filters through every template.
@settings(max_examples=min(200, settings().max_examples))
@given(st.dictionaries(KEYS, VALUES, min_size=1, max_size=6), st.text(max_size=30))
def test_generated_hcl_parses_the_same_from_the_cache(tags: dict[str, Any], name: str) -> None:
    text = (
        'resource "aws_s3_bucket" "this" {\n'
        f"  bucket = {hcl(name)}\n"
        f"  tags = {hcl(tags, indent=2)}\n"
        "}\n"
        f"locals {{\n{hcl_attrs({'v': list(tags.values())}, indent=2)}\n}}\n"
    )
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", folder)
        patch.delenv(cache.NO_CACHE_VARIABLE, raising=False)
        expected = _hclparse.Parsed(hcl2.loads(text), tuple(_repeated_fresh(text)))
        miss = _hclparse.parse(text)
        hit = _hclparse.parse(text)
        assert Path(folder, "tfgen", _hclparse.PARSE_CACHE).is_dir()
        assert (miss.result, miss.repeated) == (expected.result, expected.repeated)
        assert hit == miss


def _repeated_fresh(text: str) -> list[_hclparse.Repeated]:
    return _hclparse.find_repeated(hcl2.parses_to_tree(text))


# --------------------------------------------------------------------------- grammar


@pytest.fixture
def fresh_grammar() -> Iterator[None]:
    for cached in (_hclparse.grammar, _hclparse._frontend, _hclparse._parse_tree):
        cached.cache_clear()
    yield
    for cached in (_hclparse.grammar, _hclparse._frontend, _hclparse._parse_tree):
        cached.cache_clear()


def test_read_only_site_packages_keeps_the_compiled_grammar_in_the_cache_folder(
    home: Path, monkeypatch: pytest.MonkeyPatch, fresh_grammar: None
) -> None:
    del fresh_grammar
    monkeypatch.setattr(_hclparse, "_site_cache_usable", lambda _path: False)
    parser = _hclparse.grammar()
    files = list((home / _hclparse.GRAMMAR_CACHE).iterdir())
    assert [f.suffix for f in files] == [".bin"]
    assert parser is not hcl2.parser.parser()
    assert parser.parse("a = 1\n") == hcl2.parser.parser().parse("a = 1\n")
    assert _hclparse._hcl_loads()(TEXT) == hcl2.loads(TEXT)
    _hclparse.grammar.cache_clear()
    monkeypatch.setattr(cache, "write", None)  # a rebuild would store it again
    _hclparse.grammar()  # loaded from the sealed entry, not rebuilt


def test_a_writable_site_packages_keeps_python_hcl2s_own_grammar_cache(
    home: Path, fresh_grammar: None
) -> None:
    del fresh_grammar
    assert _hclparse.grammar() is hcl2.parser.parser()
    assert not (home / _hclparse.GRAMMAR_CACHE).exists()


def test_no_cache_builds_the_grammar_without_storing_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, fresh_grammar: None
) -> None:
    del fresh_grammar
    monkeypatch.setenv(cache.NO_CACHE_VARIABLE, "1")
    monkeypatch.setattr(_hclparse, "_site_cache_usable", lambda _path: False)
    assert _hclparse.grammar() is hcl2.parser.parser()
    assert not home.parent.exists()


def test_a_planted_grammar_file_is_not_handed_to_lark(
    home: Path, monkeypatch: pytest.MonkeyPatch, fresh_grammar: None, tmp_path: Path
) -> None:
    del fresh_grammar
    monkeypatch.setattr(_hclparse, "_site_cache_usable", lambda _path: False)
    assert _hclparse.grammar() is not hcl2.parser.parser()
    (built,) = (home / _hclparse.GRAMMAR_CACHE).iterdir()
    marker = tmp_path / "ran"
    # lark's cache format: a hash line, then pickles; this one runs code when unpickled.
    payload = b"0\n" + b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    built.write_bytes(payload)
    _hclparse.grammar.cache_clear()
    parser = _hclparse.grammar()
    assert parser.parse("a = 1\n") == hcl2.parser.parser().parse("a = 1\n")
    assert not marker.exists()
    elsewhere = tmp_path / "planted.bin"
    elsewhere.write_bytes(payload)
    built.unlink()
    built.symlink_to(elsewhere)
    _hclparse.grammar.cache_clear()
    _hclparse.grammar()
    assert not marker.exists()
    assert elsewhere.read_bytes() == payload  # the link was replaced, never written through


def test_writing_prunes_every_so_often(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "PRUNE_EVERY", 4)
    monkeypatch.setattr(cache, "_writes", {})
    monkeypatch.setattr(cache.prune, "__defaults__", (2, cache.MAX_BYTES))
    for index in range(6):  # pruned at the 1st and 5th write
        _hclparse.parse(f"a = {index}\n")
    assert len(list((home / _hclparse.PARSE_CACHE).iterdir())) == 2


def test_no_home_folder_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    def nowhere(_self: Path) -> Path:
        msg = "Could not determine home directory."
        raise RuntimeError(msg)

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv(cache.NO_CACHE_VARIABLE, raising=False)
    monkeypatch.setattr(Path, "expanduser", nowhere)
    assert cache.folder(_hclparse.PARSE_CACHE) is None
    assert _hclparse.parse(TEXT).result == hcl2.loads(TEXT)
