"""File permissions: what avstudio writes honours the user's umask, like any other program's files."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


@cache
def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it (once, at first use)
    os.umask(mask)
    return mask


def honour_umask(*paths: str | os.PathLike[str]) -> None:
    """Give files written through a private temporary (``mkstemp``: 0600) the mode a plain ``open`` would."""
    mode = 0o666 & ~_umask()
    for path in paths:
        os.chmod(path, mode)
