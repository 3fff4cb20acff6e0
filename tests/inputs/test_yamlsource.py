"""Safe YAML: strict UTF-8, no duplicate or non-string keys, bounded size, depth and aliases."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from generator.errors import ConfigError, RenderError
from generator.inputs.yamldoc import MAX_DEPTH, MAX_EXPANDED_NODES, MAX_FILE_BYTES, MAX_NODES
from generator.inputs.yamlsource import load_yaml_file, parse_yaml, read_bounded


def test_lines_of_every_key_including_lists_and_merges() -> None:
    doc = parse_yaml(
        "base: &b\n  x: 1\nnet:\n  <<: *b\n  cidr: 10.0.0.0/16\nlist:\n  - name: a\n", "e.yaml"
    )
    assert doc.data == {
        "base": {"x": 1},
        "net": {"x": 1, "cidr": "10.0.0.0/16"},
        "list": [{"name": "a"}],
    }
    assert doc.lines[("net", "cidr")] == 5
    assert doc.lines[("list", "0", "name")] == 7
    assert doc.lines[("base", "x")] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", r"^e\.yaml:3: a: duplicate key \(first defined on line 1\)$"),
        ("a:\n  b: 1\n  b: 2\n", r"^e\.yaml:3: a\.b: duplicate key"),
        ("l:\n  - k: 1\n    k: 2\n", r"^e\.yaml:3: l\.0\.k: duplicate key"),
        ("a:\n  1: x\n", r"^e\.yaml:2: a\['1'\]: keys must be strings"),
        ("true: x\n", r"^e\.yaml:1: <top level>\['true'\]: keys must be strings"),
        ("? [a, b]\n: x\n", r"^e\.yaml:1: .*keys must be strings"),
        ("- a\n", r"^e\.yaml:1: the top level must be a mapping of keys to values, not a list$"),
        ("hello\n", r"^e\.yaml:1: the top level must be a mapping.*not a scalar \('hello'\)$"),
        ("a: [1\n", r"^e\.yaml:2: YAML syntax error"),
        ("a: 1\n---\nb: 2\n", r"^e\.yaml:2: YAML syntax error: but found another document"),
        ("a: !!python/name:os.system\n", r"^e\.yaml:1: YAML syntax error: could not determine"),
        ("a: *missing\n", r"^e\.yaml:1: YAML syntax error: found undefined alias"),
        ("a: 1\nb: x\x00y\n", r"^e\.yaml:2: character U\+0000 is not allowed in YAML"),
        ("a: 1\n\nb: \x07\n", r"^e\.yaml:3: character U\+0007 is not allowed"),
        ("a: &a [*a]\n", r"^e\.yaml:1: an alias refers to a node that contains it"),
        ("a: &a {b: [*a]}\n", r"^e\.yaml:1: an alias refers to a node that contains it"),
    ],
)
def test_bad_yaml_is_a_located_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_yaml(text, "e.yaml")


def test_empty_documents_are_empty_mappings() -> None:
    assert parse_yaml("", "e.yaml").data == {}
    assert parse_yaml("# only a comment\n", "e.yaml").data == {}


@pytest.mark.parametrize("depth", [MAX_DEPTH - 2, MAX_DEPTH + 1, 5000])
def test_nesting_is_bounded_before_python_recursion(depth: int) -> None:
    flow = "a: " + "[" * depth + "]" * depth + "\n"
    block = "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v\n"
    for text in (flow, block if depth < 1000 else flow):
        if depth < MAX_DEPTH:
            assert parse_yaml(text, "e.yaml").data
        else:
            with pytest.raises(ConfigError, match=rf"nested more than {MAX_DEPTH} levels deep"):
                parse_yaml(text, "e.yaml")


def test_too_many_values_are_refused_while_composing() -> None:
    text = "a: [" + "1, " * (MAX_NODES + 10) + "]\n"
    with pytest.raises(ConfigError, match=rf"^e\.yaml:1: the document has more than {MAX_NODES}"):
        parse_yaml(text, "e.yaml")


def test_alias_expansion_is_refused_without_expanding() -> None:
    """Nine levels of nine aliases: 387 million values if expanded; refused in kilobytes."""
    text = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=rf"expands to more than {MAX_EXPANDED_NODES}"):
            parse_yaml(text, "e.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024


def test_shared_aliases_under_the_limit_are_fine() -> None:
    doc = parse_yaml("t: &t {a: 1, b: 2}\nx: *t\ny: *t\n", "e.yaml")
    assert doc.data["x"] == doc.data["y"] == {"a": 1, "b": 2}


def test_files_must_be_small_utf8(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: " + b"x" * MAX_FILE_BYTES + b"\n")
    with pytest.raises(ConfigError, match=r"^big\.yaml: file is larger than"):
        load_yaml_file(big, "big.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"^latin\.yaml:2: not valid UTF-8 \(byte 0xe9\)"):
        load_yaml_file(latin, "latin.yaml")
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_yaml_file(bom, "bom.yaml").data == {"a": 1}
    with pytest.raises(ConfigError, match=r"^dir\.yaml: not a regular file \(a folder\)"):
        load_yaml_file(tmp_path, "dir.yaml")


def test_a_large_file_is_refused_from_its_size_without_being_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(3 << 30)  # sparse: 3 GiB that take no disk
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"^huge\.yaml: file is larger than 262144 bytes"):
            load_yaml_file(huge, "huge.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_read_bounded_reads_at_most_the_limit(tmp_path: Path) -> None:
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * 10)
    assert read_bounded(exact, 10, "exact") == b"x" * 10
    with pytest.raises(ConfigError, match=r"^exact: file is larger than 9 bytes"):
        read_bounded(exact, 9, "exact")
    with pytest.raises(ConfigError, match=r"^gone: cannot read file"):
        read_bounded(tmp_path / "missing", 9, "gone")


def test_read_bounded_raises_the_class_it_is_given(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"^t\.j2: not a regular file \(a folder\)"):
        read_bounded(tmp_path, 10, "t.j2", error=RenderError)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "dev.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"^dev\.yaml: not a regular file \(a FIFO\)"):
        load_yaml_file(fifo, "dev.yaml")


def test_a_character_device_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^zero: not a regular file \(a character device\)"):
        read_bounded(Path("/dev/zero"), 10, "zero")


@pytest.mark.parametrize(
    "text",
    [
        "tags:\n  caf\u00e9: a\n  cafe\u0301: b\n",
        "tags:\n  \u212b: a\n  \u00c5: b\n",  # ANGSTROM SIGN and A WITH RING: NFC-equal
    ],
)
def test_keys_equal_after_nfc_are_duplicates_naming_both_lines(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^e\.yaml:3: tags\..*: duplicate key: .*\(line 2\)"):
        parse_yaml(text, "e.yaml")


def test_keys_that_differ_after_nfc_are_distinct() -> None:
    doc = parse_yaml("tags:\n  caf\u00e9: a\n  cafe: b\n", "e.yaml")
    assert doc.data == {"tags": {"caf\u00e9": "a", "cafe": "b"}}
