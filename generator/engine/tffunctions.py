"""Filters that mirror Terraform functions (cidrsubnet, cidrhost, ...) and read ARNs, for any stack.

They compute values (names, address ranges) in rules, derived values and templates; the
:mod:`generator.engine.filters` turn values into HCL. Each is pure and raises ValueError or
TypeError with a message a stack author can act on.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from generator.engine.formats import arn_parts, format_problem


def _network(prefix: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(prefix, str):
        msg = f"expected a CIDR block as a string, got {type(prefix).__name__}"
        raise TypeError(msg)
    try:
        return ipaddress.ip_network(prefix, strict=False)
    except ValueError as err:
        msg = f"{prefix!r} is not a CIDR block"
        raise ValueError(msg) from err


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{what} must be an integer, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def cidrsubnet(prefix: Any, newbits: Any, netnum: Any) -> str:
    """Terraform's ``cidrsubnet(prefix, newbits, netnum)``: the netnum-th block, newbits longer.

    Raises:
        ValueError: the block does not fit in the prefix.
    """
    net = _network(prefix)
    bits = _int(newbits, "newbits")
    num = _int(netnum, "netnum")
    new_prefix = net.prefixlen + bits
    if bits < 0 or new_prefix > net.max_prefixlen:
        msg = f"cannot extend /{net.prefixlen} by {bits} bits"
        raise ValueError(msg)
    if not 0 <= num < 2**bits:
        msg = f"netnum {num} does not fit in {bits} new bits"
        raise ValueError(msg)
    size = 2 ** (net.max_prefixlen - new_prefix)
    address = int(net.network_address) + num * size
    return f"{ipaddress.ip_address(address)}/{new_prefix}"


def cidrsubnets(prefix: Any, *newbits: Any) -> list[str]:
    """Terraform's ``cidrsubnets(prefix, newbits...)``: consecutive blocks of those sizes.

    Raises:
        ValueError: the blocks do not fit in the prefix.
    """
    net = _network(prefix)
    result: list[str] = []
    cursor = int(net.network_address)
    end = int(net.broadcast_address) + 1
    for raw in newbits:
        bits = _int(raw, "newbits")
        new_prefix = net.prefixlen + bits
        if bits < 1 or new_prefix > net.max_prefixlen:
            msg = f"cannot extend /{net.prefixlen} by {bits} bits"
            raise ValueError(msg)
        size = 2 ** (net.max_prefixlen - new_prefix)
        cursor = -(-cursor // size) * size  # align up, as Terraform does
        if cursor + size > end:
            msg = f"not enough room in {prefix} for the blocks requested"
            raise ValueError(msg)
        result.append(f"{ipaddress.ip_address(cursor)}/{new_prefix}")
        cursor += size
    return result


def cidrhost(prefix: Any, hostnum: Any) -> str:
    """Terraform's ``cidrhost(prefix, hostnum)``: an address in the prefix (negative: from the end).

    Raises:
        ValueError: the host number is outside the prefix.
    """
    net = _network(prefix)
    num = _int(hostnum, "hostnum")
    if not -net.num_addresses <= num < net.num_addresses:
        msg = f"host number {num} is outside {prefix}"
        raise ValueError(msg)
    base = int(net.network_address) if num >= 0 else int(net.broadcast_address) + 1
    return str(ipaddress.ip_address(base + num))


def _arn_field(field: str) -> Callable[[Any], str | None]:
    def read(arn: Any) -> str | None:
        if not isinstance(arn, str):
            return None
        parts = arn_parts(arn)
        return None if parts is None else parts[field] or None

    read.__doc__ = f"The {field} of an ARN, or None when the value is not an ARN."
    return read


arn_region = _arn_field("region")
arn_account = _arn_field("account")
arn_service = _arn_field("service")
arn_resource = _arn_field("resource")


_MAX_REGEX_INPUT = 64 * 1024


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as err:
        msg = f"invalid regular expression {pattern!r}: {err}"
        raise ValueError(msg) from err


def _text(value: Any) -> str:
    if not isinstance(value, str):
        msg = f"expected a string, got {type(value).__name__}"
        raise TypeError(msg)
    if len(value) > _MAX_REGEX_INPUT:
        msg = f"a string of {len(value)} characters is too long for a regular expression"
        raise ValueError(msg)
    return value


def regex_replace(value: Any, pattern: str, replacement: str) -> str:
    r"""Replace every match of ``pattern`` (Python syntax; ``\1`` names a group)."""
    return _regex(pattern).sub(replacement, _text(value))


def regex_groups(value: Any, pattern: str) -> list[str] | None:
    """The groups of ``pattern`` matching the whole of ``value``, or None when it does not match."""
    match = _regex(pattern).fullmatch(_text(value))
    return None if match is None else [g or "" for g in match.groups()]


def format_error(value: Any, name: str) -> str | None:
    """Why ``value`` does not have the engine format ``name`` (None when it does)."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    return format_problem(name, value)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "cidrsubnet": cidrsubnet,
    "cidrsubnets": cidrsubnets,
    "cidrhost": cidrhost,
    "arn_region": arn_region,
    "arn_account": arn_account,
    "arn_service": arn_service,
    "arn_resource": arn_resource,
    "format_error": format_error,
    "regex_replace": regex_replace,
    "regex_groups": regex_groups,
}
