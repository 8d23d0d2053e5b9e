"""Painted frames committed in chunks, so an interrupted paint resumes where it stopped.

Each chunk is one ``.npy`` file written atomically (temp file + ``os.replace``)
into a folder named after the fingerprint of what produced it. A killed process
loses at most the chunk in flight; a changed param or checkpoint gives a new
fingerprint and so a new folder (stale folders are removed).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np


class ChunkSpool:
    """Chunks of painted frames on disk, keyed by start frame.

    Parameters
    ----------
    root : Path
        Parent folder (``.avstudio/resume``).
    key : str
        Fingerprint of what paints the frames.
    """

    def __init__(self, root: Path, key: str) -> None:
        self.root = root
        self.dir = root / key[:24]
        self.dir.mkdir(parents=True, exist_ok=True)
        for other in root.iterdir():
            if other.is_dir() and other != self.dir:
                shutil.rmtree(other, ignore_errors=True)

    def _path(self, start: int) -> Path:
        return self.dir / f"chunk-{start:09d}.npy"

    def starts(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.dir.glob("chunk-*.npy"))

    def resume_point(self) -> tuple[int, np.ndarray | None]:
        """``(next frame to paint, last painted frame)`` from the contiguous chunks on disk."""
        nxt, last = 0, None
        for start in self.starts():
            if start != nxt:
                break
            try:
                frames = np.load(self._path(start), mmap_mode="r")
            except (OSError, ValueError):
                break
            nxt, last = start + len(frames), np.array(frames[-1])
        return nxt, last

    def write(self, start: int, frames: np.ndarray) -> None:
        tmp = self.dir / f".tmp-{start}.npy"
        np.save(tmp, frames)
        os.replace(tmp, self._path(start))

    def read(self, end: int) -> Iterator[np.ndarray]:
        """The chunks covering frames ``0..end-1`` in order."""
        nxt = 0
        for start in self.starts():
            if start != nxt or nxt >= end:
                break
            frames = np.load(self._path(start))
            yield frames[: end - start]
            nxt = start + len(frames)

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
