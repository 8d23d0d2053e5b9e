"""Files avstudio writes: permissions, failures as one-line messages, and safe removal.

- What avstudio writes honours the user's umask, like any other program's files.
- A write that fails because the disk is full, the file system is read-only,
  access is denied or something is in the way becomes one :class:`StorageError`
  naming the folder and the fix (:func:`translate_os_errors`), after the
  temporary file is removed; earlier outputs are untouched because every
  writer replaces its target only on success.
- Removal never follows a symbolic link (:func:`remove_path`), and only the
  writer holding the workspace lock removes temporary files that dead writers
  left behind (:func:`remove_stale_temps`).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from avstudio.errors import StorageError

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
READ_ONLY = frozenset({errno.EROFS})
DENIED = frozenset({errno.EACCES, errno.EPERM})
IN_THE_WAY = frozenset({errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENOTEMPTY})
FULL_BELOW = 1 << 20
"""A write that failed without an errno counts as disk full when less than this is free."""
_TEXT_ERRNO = (("No space left on device", errno.ENOSPC), ("Disk quota exceeded", errno.EDQUOT),
               ("Read-only file system", errno.EROFS), ("Permission denied", errno.EACCES))


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


# --------------------------------------------------------------------------- failed writes as messages


def error_number(exc: BaseException) -> int | None:
    """The ``errno`` behind ``exc``: its own, or the one h5py and HDF5 spell into the text.

    h5py raises ``OSError`` (sometimes ``RuntimeError``) whose text carries
    ``errno = 28, error message = 'No space left on device'``; safetensors
    (Rust) says ``(os error 28)``.
    """
    number = getattr(exc, "errno", None)
    if isinstance(number, int) and number > 0:
        return number
    text = str(exc)
    found = re.search(r"errno\s*=\s*(\d+)", text) or re.search(r"\(os error (\d+)\)", text)  # HDF5, Rust
    if found:
        return int(found.group(1))
    for words, value in _TEXT_ERRNO:
        if words in text:
            return value
    return None


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` says the disk (or the user's quota) is full."""
    return error_number(exc) in NO_SPACE


def _free_bytes(folder: Path) -> int | None:
    for path in (folder, *folder.parents):
        try:
            return shutil.disk_usage(path).free
        except OSError:
            continue
    return None


def _size_text(n: int) -> str:
    from avstudio.humanize import size

    return size(n) or "0 B"


def _within(path: Path, folder: Path) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(folder)
    except ValueError:
        return False


def _related(path: Path, folder: Path) -> bool:
    """``path`` is inside ``folder``, or ``folder`` inside ``path``."""
    return _within(path, folder) or _within(folder, path)


def disk_full_error(exc: BaseException, folder: str | os.PathLike[str], needed_bytes: int | None = None, *,
                    what: str | None = None, at_least: bool = False) -> StorageError:
    """The one-line message for a write that ran out of space in ``folder``.

    Parameters
    ----------
    exc : BaseException
        The ``OSError`` (``ENOSPC`` or ``EDQUOT``), for the quota wording.
    folder : path
        Where the write went.
    needed_bytes : int, optional
        About how many bytes the write needs in all (e.g. what was written
        before the disk filled, or the size of the file it replaces).
    what : str, optional
        What was being written (``store/sonify.h5``), for the message.
    at_least : bool
        ``needed_bytes`` is only what was written before the disk filled: the write needs more.
    """
    folder = Path(folder)
    free = _free_bytes(folder)
    quota = error_number(exc) == errno.EDQUOT
    head = f"{'disk quota exceeded' if quota else 'no space left on device'} in {folder}"
    if what:
        head += f" writing {what}"
    facts = []
    if needed_bytes:
        facts.append(f"it needs {'more than' if at_least else 'about'} {_size_text(needed_bytes)}")
    if free is not None:
        facts.append(f"{_size_text(free)} is free")
    message = head + (f" ({'; '.join(facts)})" if facts else "")
    short = needed_bytes - free if needed_bytes and free is not None and not at_least else 0
    amount = f"at least {_size_text(short)}" if short > 0 else "space"
    return StorageError(message, hint=f"free {amount} on that disk or move the workspace to a bigger one, then "
                                      "run again; earlier outputs are intact")


def storage_error(exc: BaseException, folder: str | os.PathLike[str], *, needed_bytes: int | None = None,
                  what: str | None = None, at_least: bool = False) -> StorageError | None:
    """``exc`` as a one-line :class:`StorageError` if it is a failed write, else None.

    Disk full and quota: see :func:`disk_full_error`. Read-only file system,
    permission denied, and a file or folder in the way (``EISDIR``,
    ``ENOTDIR``, ``EEXIST``) each get their own line. A denied or in-the-way
    path outside ``folder`` is left alone (it was probably a read, reported by
    whoever made it).
    """
    if not isinstance(exc, (OSError, RuntimeError)):
        return None
    number = error_number(exc)
    folder = Path(folder)
    filename = getattr(exc, "filename", None)
    where = Path(os.fsdecode(filename)).parent if isinstance(filename, (str, bytes, os.PathLike)) else None
    if number in NO_SPACE:
        return disk_full_error(exc, where or folder, needed_bytes, what=what, at_least=at_least)
    if number in READ_ONLY:
        return StorageError(f"cannot write in {where or folder}: the file system is read-only",
                            hint="copy the workspace to a writable disk or remount this one read-write; status, "
                                 "show, logs and export work read-only")
    if filename is not None and not _related(Path(os.fsdecode(filename)), folder):
        return None
    if number in DENIED:
        return StorageError(f"cannot write in {where or folder}: permission denied",
                            hint="give your user write access to that folder, or work on a copy of the workspace")
    if number in IN_THE_WAY:
        blocked = getattr(exc, "filename2", None) or filename
        blocked = Path(os.fsdecode(blocked)) if blocked else folder
        reason = getattr(exc, "strerror", None) or str(exc)
        if number == errno.ENOTDIR:  # name the file that stands where a folder should be
            blocked = next((p for p in (blocked, *blocked.parents) if p.exists() and not p.is_dir()), blocked)
        if number in (errno.ENOTDIR, errno.EEXIST) and blocked.exists() and not blocked.is_dir():
            reason = "a file is where a folder should be"
        elif number == errno.EISDIR and blocked.is_dir():
            reason = "a folder is where a file should be"
        return StorageError(f"cannot write {blocked}: {reason}",
                            hint="something avstudio did not make is in the way there: move it aside and run again")
    return None


@contextmanager
def translate_os_errors(folder: str | os.PathLike[str], *, needed_bytes: int | None = None,
                        temps: Iterable[str | os.PathLike[str]] = (), what: str | None = None) -> Iterator[None]:
    """Turn a failed write inside the block into one :class:`StorageError` line.

    On any exception the files in ``temps`` are removed (so the space is free
    again and nothing half-written stays). A disk-full, read-only, denied or
    in-the-way error is then raised as one line with the folder and the space
    needed: ``needed_bytes``, or more than what the temporary files held.
    Other exceptions pass through unchanged.

    Examples
    --------
    >>> with translate_os_errors(layout.tmp_dir, temps=[tmp], what="store/sonify.h5"):  # doctest: +SKIP
    ...     write(tmp)
    """
    temps = [Path(t) for t in temps]
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, (OSError, RuntimeError)):
            remove_files(temps)
            raise
        # libsndfile says only "System error.": a full disk shows as no free space before the temp goes
        full = error_number(exc) is None and (_free_bytes(Path(folder)) or 0) < FULL_BELOW
        written = remove_files(temps)
        at_least = written > (needed_bytes or 0)
        needed = written if at_least else needed_bytes
        err = storage_error(exc, folder, needed_bytes=needed, what=what, at_least=at_least)
        if err is None and full:
            err = disk_full_error(exc, folder, needed, what=what, at_least=at_least)
        if err is None:
            raise
        raise err from exc


def remove_files(paths: Iterable[Path]) -> int:
    """Delete plain files (never folders; links themselves, not their targets); returns the bytes they held."""
    freed = 0
    for path in paths:
        try:
            st = path.lstat()
            path.unlink()
        except OSError:
            continue
        freed += st.st_size
    return freed


def discard_h5(file: Any) -> None:
    """Close an h5py file that failed (e.g. the disk filled) without writing anything more.

    After a failed write HDF5 cannot close the file (the flush fails again), so
    it keeps the descriptor open, the space of a deleted temporary file is not
    given back, and the library can crash at exit. Pointing the descriptor at
    ``/dev/null`` lets the close succeed and frees the file.
    """
    try:
        fd = file.id.get_vfd_handle()
    except Exception:  # noqa: BLE001 - already closed, or not the sec2 driver
        fd = None
    if isinstance(fd, int) and fd >= 0:
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)
    try:
        file.close()
    except Exception:  # noqa: BLE001 - nothing more to do; the descriptor is /dev/null now
        pass


# --------------------------------------------------------------------------- safe removal


def remove_path(path: str | os.PathLike[str]) -> None:
    """Delete a file or a folder tree; a symbolic link is removed itself, never what it points to.

    ``shutil.rmtree`` does not follow links inside the tree either.
    """
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def remove_stale_temps(folders: Iterable[tuple[Path, Callable[[str], bool]]]) -> list[Path]:
    """Delete the temporary files writers that died left in ``folders`` (only while holding the writer lock).

    Parameters
    ----------
    folders : iterable of (Path, callable)
        Each folder with a test of a file name; plain files (and links) whose
        names pass are removed, folders never.

    Returns
    -------
    list of Path
        What was removed.
    """
    removed = []
    for folder, matches in folders:
        try:
            if folder.is_symlink() or not folder.is_dir():
                continue
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False) or not matches(entry.name):
                    continue
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed
