"""The tfgen process's memory ceiling: a bound on its address space, inherited by workers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

# How much address space a tfgen process may add to what it has when it starts (workers
# inherit the ceiling): anything the sandbox's bounds miss fails with MemoryError, which
# becomes a located error, instead of swapping the machine.
MEMORY_CEILING = 4 * 1024**3


@contextlib.contextmanager
def memory_ceiling(extra: int = MEMORY_CEILING) -> Iterator[None]:
    """While running, the process's address space (``RLIMIT_AS``) is bounded at ``extra`` more.

    Never raises the limit, and puts back the previous one after; where there is no
    ``resource`` module or ``/proc``, nothing changes.
    """
    try:
        import resource

        page = os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/statm", "rb") as handle:  # noqa: PTH123 - one read of /proc
            used = int(handle.read().split()[0]) * page
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError, IndexError):
        yield
        return
    wanted = used + extra
    if soft != resource.RLIM_INFINITY and soft <= wanted:
        yield
        return
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    except (OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
