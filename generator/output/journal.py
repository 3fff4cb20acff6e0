"""The journal of an interrupted write: the one shape tfgen writes, checked field by field.

A journal read back from ``out/`` may be hand-made; :func:`journal_shape` accepts exactly
the fields, types and names this version of tfgen writes, nothing more.
"""

from __future__ import annotations

from generator.output.safeio import MANIFEST, is_sha256_hex, plain_name

JOURNAL_VERSION = 2


def journal_shape(data: object) -> bool:
    """Exactly the fields, types and names of a journal this version of tfgen writes."""
    if not isinstance(data, dict) or data.get("version") != JOURNAL_VERSION:
        return False
    staging = data.get("staging")
    if not (
        type(data["version"]) is int
        and isinstance(staging, list)
        and len(staging) == 2
        and all(type(n) is int and n >= 0 for n in staging)
    ):
        return False
    if data.get("mode") == "swap" and set(data) == {"version", "mode", "staging", "new", "old"}:
        return all(
            isinstance(data[k], dict) and all(_entry(n, d) for n, d in data[k].items())
            for k in ("new", "old")
        )
    if data.get("mode") == "replace" and set(data) == {
        "version",
        "mode",
        "staging",
        "install",
        "remove",
    }:
        install, remove = data["install"], data["remove"]
        return (
            isinstance(install, list)
            and isinstance(remove, list)
            and all(
                isinstance(i, list)
                and len(i) == 3
                and _entry(i[0], i[1])
                and (i[2] is None or is_sha256_hex(i[2]))
                for i in install
            )
            and all(isinstance(r, list) and len(r) == 2 and _entry(r[0], r[1]) for r in remove)
        )
    return False


def _entry(name: object, digest: object) -> bool:
    return (plain_name(name) or name == MANIFEST) and is_sha256_hex(digest)
