"""``*.tf.json`` output: parsed as JSON, its structure checked, shaped as hcl2 shapes HCL.

Terraform's JSON syntax nests blocks by label; python-hcl2 gives HCL another shape. A
rendered ``.tf.json`` is brought to hcl2's shape so that every rule of
:mod:`generator.verify.rules` reads both the same way.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from generator.errors import Problem, VerifyError
from generator.inputs.yamldoc import same_key_once_normalised

JSON_SUFFIX = ".tf.json"
# A generated .tf.json larger or deeper than this is refused before json.loads sees it.
MAX_JSON_BYTES = 8 * 1024 * 1024
MAX_JSON_DEPTH = 64


_JSON_LABELS = {"resource": 2, "data": 2, "ephemeral": 2, "provider": 1, "module": 1}
_JSON_LABELS |= {"variable": 1, "output": 1, "check": 1}
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


def parse_tf_json(name: str, text: str) -> dict[str, Any]:
    """Parse a ``*.tf.json`` file into the shape python-hcl2 gives the same ``.tf``.

    Bounded (:data:`MAX_JSON_BYTES`, :data:`MAX_JSON_DEPTH`) before it is decoded; a key
    given twice in one object (compared after NFC normalisation) is refused with both
    lines, as Terraform refuses it. Blocks become lists of bodies marked ``__is_block__``
    with their labels quoted, strings become quoted literals, so the rules for ``.tf``
    files (terraform block, backend, endpoints) apply unchanged.

    Raises:
        VerifyError: not JSON, too large or deep, repeated keys, or not an object.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_JSON_BYTES:
        msg = f"larger than {MAX_JSON_BYTES} bytes ({size})"
        raise VerifyError.at(msg, path=name)
    problems = _json_structure_problems(name, text)
    if problems:
        raise VerifyError(*problems)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        msg = f"rendered file is not valid JSON (column {err.colno}): {err.msg}"
        raise VerifyError.at(msg, path=name, line=err.lineno) from err
    except (ValueError, RecursionError) as err:
        msg = f"rendered file is not valid JSON: {err}"
        raise VerifyError.at(msg, path=name) from err
    if not isinstance(data, dict):
        msg = "the top level of a .tf.json file must be an object"
        raise VerifyError.at(msg, path=name)
    return _json_top(data)


def _json_structure_problems(name: str, text: str) -> list[Problem]:
    """Nesting deeper than the bound, and keys given twice in one object, with their lines."""
    problems: list[Problem] = []
    # One frame per open object ({normalised key: (key, line)}) or array (None).
    frames: list[dict[str, tuple[str, int]] | None] = []
    expect_key = False
    line, scanned = 1, 0
    for match in _JSON_TOKEN.finditer(text):
        tok = match.group(0)
        line += text.count("\n", scanned, match.start())
        scanned = match.start()
        if tok in "{[":
            if len(frames) >= MAX_JSON_DEPTH:
                msg = f"nested more than {MAX_JSON_DEPTH} levels deep"
                return [Problem(msg, path=name, line=line)]
            frames.append({} if tok == "{" else None)
            expect_key = tok == "{"
        elif tok in "}]":
            if frames:
                frames.pop()
            expect_key = False
        elif tok == ",":
            expect_key = bool(frames) and frames[-1] is not None
        elif tok == ":":
            expect_key = False
        elif expect_key and frames and frames[-1] is not None:
            seen = frames[-1]
            try:
                key = json.loads(tok)
            except ValueError:
                continue  # json.loads reports the syntax error with its position
            normal = unicodedata.normalize("NFC", key)
            if normal in seen:
                first, where = seen[normal]
                msg = f"set twice (first on line {where})"
                if first != key:
                    msg = same_key_once_normalised(key, first, where)
                problems.append(Problem(msg, path=name, line=line, key=key))
            else:
                seen[normal] = (key, line)
    return problems


def _json_top(data: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for kind, value in data.items():
        if kind == "//":
            continue
        blocks = result.setdefault(kind, [])
        for item in value if isinstance(value, list) else [value]:
            blocks.append(_json_labelled(item, _JSON_LABELS.get(kind, 0), kind))
    return result


def _json_labelled(value: Any, labels: int, kind: str) -> Any:
    """A block value with ``labels`` levels of labels above its body (or bodies)."""
    if labels == 0 or not isinstance(value, dict):
        return _json_body(value, kind)
    out: dict[str, Any] = {}
    for label, inner in value.items():
        if label == "//":
            continue
        if labels == 1 and isinstance(inner, list):  # several blocks with the same labels
            inner = inner[0] if len(inner) == 1 else inner
        out[f'"{label}"'] = _json_labelled(inner, labels - 1, kind)
    return out


def _json_body(value: Any, kind: str) -> Any:
    """A block body: in the terraform and provider blocks, objects are nested blocks."""
    if not isinstance(value, dict):
        return _json_value(value)
    body: dict[str, Any] = {}
    for key, item in value.items():
        if key == "//":
            continue
        nested = kind in ("terraform", "provider") and key != "tags"
        if nested and key == "backend" and isinstance(item, dict):
            body[key] = [{f'"{label}"': _json_body(b, kind)} for label, b in item.items()]
        elif nested and key == "required_providers" and isinstance(item, dict):
            body[key] = [{**_json_value(item), "__is_block__": True}]
        elif nested and isinstance(item, dict):
            body[key] = [_json_body(item, kind)]
        elif nested and isinstance(item, list) and item and all(isinstance(i, dict) for i in item):
            body[key] = [_json_body(i, kind) for i in item]
        else:
            body[key] = _json_value(item)
    body["__is_block__"] = True
    return body


def _json_value(value: Any) -> Any:
    """A JSON value as python-hcl2 writes the same HCL value (strings keep their quotes)."""
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value
