"""Free TCP ports on 127.0.0.1 for the servers tests start (SeaweedFS, PostgreSQL, Chromium)."""

from __future__ import annotations

import random
import socket


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(taken: set[int] | None = None, twin_offset: int | None = None) -> int:
    """A free port not in ``taken``; with ``twin_offset``, port + twin_offset is free too.

    The ports returned are added to ``taken``, so one server's several ports never collide.
    """
    taken = set() if taken is None else taken
    for port in random.sample(range(20000, 45000), 2000):
        wanted = {port} if twin_offset is None else {port, port + twin_offset}
        if not wanted & taken and all(_is_free(candidate) for candidate in wanted):
            taken.update(wanted)
            return port
    raise RuntimeError("no free port on 127.0.0.1")
