"""Painted frames committed in chunks, so an interrupted paint resumes where it stopped.

Each chunk is one ``.npy`` file written atomically (temp file + ``os.replace``)
into a folder named after the fingerprint of what produced it. A killed process
loses at most the chunk in flight; a changed param or checkpoint gives a new
fingerprint and so a new folder (stale folders are removed).

Segments (:mod:`avstudio.render.segments`) resume on their own: a segment
continues after its last chunk, whichever segments around it are done. Paint
workers (:mod:`avstudio.render.workers`) each write into a subfolder
``worker-<rank>`` of the key folder, next to the job files; readers see the
chunks of every worker as one spool.

Only what the spool wrote is ever deleted: folders named like its key folders
(24 hex digits, real folders, not links) and in them only chunk files, so a
spool folder that is a symbolic link to somewhere else never costs that
somewhere a file. A chunk that does not fit (damaged, other frame size or
dtype) is discarded with the chunks after it, and those frames are painted
again.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from avstudio.files import translate_os_errors

_KEY_DIR = re.compile(r"^[0-9a-f]{24}$")
_OWN_FILE = re.compile(r"^(chunk-\d{9}\.npy|\.tmp-\d+\.npy|job\.json|plans\.npz|workers\.log|worker-\d+\.pid)$")
_WORKER_DIR = re.compile(r"^worker-\d+$")
_CHUNK = re.compile(r"^chunk-(\d{9})\.npy$")


def _remove_own(folder: Path, *, pattern: re.Pattern = _KEY_DIR) -> None:
    """Delete a key folder the spool made: its chunk files (and workers' folders), then the folder if
    nothing else is in it.

    Anything not named like a key folder is left alone; a link named like one is removed itself.
    """
    if not pattern.match(folder.name):
        return
    if folder.is_symlink():
        folder.unlink(missing_ok=True)  # the link only, never what it points to
        return
    if not folder.is_dir():
        return
    for entry in os.scandir(folder):
        if _WORKER_DIR.match(entry.name):
            _remove_own(Path(entry.path), pattern=_WORKER_DIR)
        elif _OWN_FILE.match(entry.name) and not entry.is_dir(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass
    try:
        folder.rmdir()
    except OSError:  # something the spool did not write is in it: leave it
        pass


class ChunkSpool:
    """Chunks of painted frames on disk, keyed by start frame.

    Parameters
    ----------
    root : Path
        Parent folder (``.avstudio/resume/<stage>``).
    key : str
        Fingerprint of what paints the frames.
    frame_shape : tuple of int, optional
        ``(h, w, 3)`` of one frame; chunks of another shape are discarded.
    fresh : bool
        Discard the chunks of this key too (``run --force``: paint from the start).
    """

    def __init__(self, root: Path, key: str, *, frame_shape: tuple[int, ...] | None = None,
                 fresh: bool = False) -> None:
        self.root = root
        self.dir = root / key[:24]
        self.write_dir = self.dir
        self.frame_shape = tuple(frame_shape) if frame_shape is not None else None
        with translate_os_errors(root):
            if root.is_dir():
                for other in root.iterdir():
                    if other != self.dir or fresh or other.is_symlink():
                        _remove_own(other)  # only what the spool wrote
            self.dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def worker(cls, folder: Path, rank: int) -> ChunkSpool:
        """The spool a paint worker writes: the key ``folder`` (read as a whole), writing into ``worker-<rank>``.

        Nothing is cleaned up: the stage that started the workers owns the folder.
        """
        spool = cls.__new__(cls)
        spool.root, spool.dir, spool.frame_shape = folder.parent, folder, None
        spool.write_dir = folder / f"worker-{rank}"
        spool.write_dir.mkdir(exist_ok=True)
        return spool

    def _chunks(self) -> dict[int, Path]:
        """Every chunk file by start frame, in the key folder and its workers' folders (links not followed)."""
        found: dict[int, Path] = {}
        folders = [self.dir]
        try:
            folders += sorted(Path(e.path) for e in os.scandir(self.dir)
                              if _WORKER_DIR.match(e.name) and e.is_dir(follow_symlinks=False))
        except OSError:
            return found
        for folder in folders:
            for entry in os.scandir(folder):
                match = _CHUNK.match(entry.name)
                if match and entry.is_file(follow_symlinks=False):
                    found.setdefault(int(match.group(1)), Path(entry.path))
        return found

    def starts(self) -> list[int]:
        return sorted(self._chunks())

    def _fits(self, frames: np.ndarray) -> bool:
        return (frames.ndim == 4 and len(frames) > 0 and frames.dtype == np.uint8 and frames.shape[-1] == 3
                and (self.frame_shape is None or frames.shape[1:] == self.frame_shape))

    def resume_point(self, start: int = 0, stop: int | None = None) -> tuple[int, np.ndarray | None]:
        """``(next frame to paint, last painted frame)`` of the frames ``start..stop-1`` from the
        contiguous chunks on disk (``last`` is None when none is painted).

        The first chunk in that range that cannot be read or does not fit, and
        every chunk after it in the range, are deleted: painting resumes (or
        restarts) before it.
        """
        chunks = self._chunks()
        inside = [s for s in sorted(chunks) if start <= s and (stop is None or s < stop)]
        nxt, last = start, None
        for i, at in enumerate(inside):
            frames = None
            if at == nxt:
                try:
                    frames = np.load(chunks[at], mmap_mode="r", allow_pickle=False)
                except (OSError, ValueError, EOFError):
                    frames = None
            if frames is None or not self._fits(frames) or (stop is not None and at + len(frames) > stop):
                for later in inside[i:]:
                    chunks[later].unlink(missing_ok=True)
                break
            nxt, last = at + len(frames), np.array(frames[-1])
        return nxt, last

    def painted(self) -> int:
        """Frames in the spooled chunks (from the files' headers; cheap enough to poll)."""
        total = 0
        for path in self._chunks().values():
            try:
                with open(path, "rb") as f:
                    fmt = np.lib.format
                    read = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0
                    shape = read(f)[0]
                total += int(shape[0]) if shape else 0
            except (OSError, ValueError, EOFError):
                continue
        return total

    def write(self, start: int, frames: np.ndarray) -> None:
        folder = self.write_dir
        tmp = folder / f".tmp-{start}.npy"
        with translate_os_errors(folder, temps=[tmp], needed_bytes=frames.nbytes, what="a resume chunk"):
            np.save(tmp, frames)
            os.replace(tmp, folder / f"chunk-{start:09d}.npy")

    def read(self, end: int) -> Iterator[np.ndarray]:
        """The chunks covering frames ``0..end-1`` in order, whichever worker wrote them."""
        chunks = self._chunks()
        nxt = 0
        for start in sorted(chunks):
            if start != nxt or nxt >= end:
                break
            frames = np.load(chunks[start], allow_pickle=False)
            yield frames[: end - start]
            nxt = start + len(frames)

    def discard(self) -> None:
        _remove_own(self.dir)
