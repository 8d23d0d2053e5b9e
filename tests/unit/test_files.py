"""Failed writes become one line (disk full, read-only, denied, in the way), temp files go, nothing earlier is lost;
removal never follows a link; stale temporary files go only under the writer lock."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from avstudio.errors import LockError, StorageError, WorkspaceError
from avstudio.files import disk_full_error, error_number, remove_path, storage_error, translate_os_errors
from tests.tmpfs import fill, read_only_view, tiny_disk  # noqa: F401 (fixtures)

H5PY_ENOSPC = ("Can't synchronously write data (file write failed: time = Mon Nov 30 02:56:37 2026\n, filename = "
               "'/x/a.h5', file descriptor = 3, errno = 28, error message = 'No space left on device', buf = 0x1)")


# --------------------------------------------------------------------------- the mapping, without a full disk


def test_error_number_reads_errno_and_h5py_text():
    assert error_number(OSError(errno.ENOSPC, "No space left on device")) == errno.ENOSPC
    assert error_number(RuntimeError(H5PY_ENOSPC)) == errno.ENOSPC
    assert error_number(OSError(None, "Unable to create file (Read-only file system)")) == errno.EROFS
    assert error_number(ValueError("nothing")) is None


def test_disk_full_error_names_folder_need_and_shortfall(tmp_path):
    err = disk_full_error(OSError(errno.ENOSPC, "x"), tmp_path, needed_bytes=10 ** 15, what="store/sonify.h5")
    line = err.one_line()
    assert line.startswith(f"no space left on device in {tmp_path} writing store/sonify.h5 (it needs about "
                           "931322.6 GB; ")
    assert " is free) (free at least " in line and line.endswith(
        " on that disk or move the workspace to a bigger one, then run again; earlier outputs are intact)")
    assert "\n" not in line and isinstance(err, StorageError) and isinstance(err, WorkspaceError)
    quota = disk_full_error(OSError(errno.EDQUOT, "x"), tmp_path)
    assert quota.message.startswith(f"disk quota exceeded in {tmp_path} (") and quota.hint.startswith("free space ")


def test_translate_removes_temps_and_maps_only_failed_writes(tmp_path):
    tmp = tmp_path / ".x.tmp"
    tmp.write_bytes(b"12345")
    with pytest.raises(StorageError) as info:
        with translate_os_errors(tmp_path, temps=[tmp], what="x"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert not tmp.exists()
    assert info.value.message.startswith(f"no space left on device in {tmp_path} writing x (it needs more than 5 B; ")
    tmp.write_bytes(b"1")
    with pytest.raises(ValueError):  # not a write failure: passes through, but the temp still goes
        with translate_os_errors(tmp_path, temps=[tmp]):
            raise ValueError("bug")
    assert not tmp.exists()
    elsewhere = OSError(errno.EACCES, "Permission denied", "/etc/shadow")  # a denied *read* elsewhere
    assert storage_error(elsewhere, tmp_path) is None
    denied = storage_error(OSError(errno.EACCES, "Permission denied", str(tmp_path / "a")), tmp_path)
    assert denied.message == f"cannot write in {tmp_path}: permission denied"
    (tmp_path / "file").write_text("x")
    in_way = storage_error(OSError(errno.ENOTDIR, "Not a directory", str(tmp_path / "file" / "sub" / "c")), tmp_path)
    assert in_way.message == f"cannot write {tmp_path / 'file'}: a file is where a folder should be"


def test_remove_path_removes_a_link_never_its_target(tmp_path):
    target = tmp_path / "precious"
    (target / "sub").mkdir(parents=True)
    (target / "sub" / "data.txt").write_text("keep me")
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    remove_path(link)
    assert not link.exists() and not link.is_symlink()
    assert (target / "sub" / "data.txt").read_text() == "keep me"


def test_discard_h5_closes_a_file_and_frees_it(tmp_path):
    import h5py

    from avstudio.files import discard_h5

    path = tmp_path / "a.h5"
    f = h5py.File(path, "w", locking=False)
    f["x"] = np.arange(10)
    fd = f.id.get_vfd_handle()
    discard_h5(f)
    assert not f.id.valid
    with pytest.raises(OSError):
        os.fstat(fd)  # the descriptor is closed, not leaked


# --------------------------------------------------------------------------- real full disks (tmpfs, root only)


def test_h5py_on_a_full_disk_fails_in_one_line_frees_the_space_and_exits_cleanly(tiny_disk):
    """The pattern Store.write uses: no chunk cache, translate_os_errors + discard_h5 (a second process, so a crash
    at exit would show)."""
    import subprocess
    import sys

    disk = tiny_disk("2m")
    code = f"""
import os, sys, h5py, numpy as np
from pathlib import Path
from avstudio.errors import StorageError
from avstudio.files import discard_h5, translate_os_errors
disk = Path({str(disk)!r}); tmp = disk / "stage.h5"
try:
    with translate_os_errors(disk, temps=[tmp], what="store/stage.h5"):
        f = h5py.File(tmp, "w", locking=False, rdcc_nbytes=0)
        try:
            ds = f.create_dataset("x", shape=(0, 1000), maxshape=(None, 1000), chunks=(64, 1000), dtype="f4")
            for _ in range(100):
                n = ds.shape[0]; ds.resize(n + 64, axis=0); ds[n:] = np.ones((64, 1000), "f4")
            f.close()
        except BaseException:
            discard_h5(f)
            raise
except StorageError as exc:
    print(exc.one_line())
print(sorted(os.listdir(disk)), os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr  # no segfault at exit (HDF5 closing a failed file)
    line, listing = run.stdout.splitlines()
    assert line.startswith(f"no space left on device in {disk} writing store/stage.h5 (it needs more than ")
    assert listing == f"[] {2 * 1024 * 1024}"  # the temp is gone and its space is free again


def test_state_json_on_a_full_disk_keeps_the_old_file(tiny_disk):
    from avstudio.workspace.state import load_state, save_state

    disk = tiny_disk("1m")
    path = disk / "state.json"
    save_state(path, {"schema": 1, "stages": {"a": {"done": {"fingerprint": "f1"}}}})
    before = path.read_bytes()
    fill(disk, leave=0)
    with pytest.raises(StorageError) as info:
        save_state(path, {"schema": 1, "stages": {"a": {"done": {"fingerprint": "f2", "parts": {"x": "y" * 9000}}}}})
    assert info.value.message.startswith(f"no space left on device in {disk} writing state.json (it needs about 8.")
    assert path.read_bytes() == before and load_state(path)["stages"]["a"]["done"]["fingerprint"] == "f1"
    assert sorted(p.name for p in disk.iterdir()) == ["filler.bin", "state.json"]


def test_event_log_on_a_full_disk_raises_once_then_drops(tiny_disk):
    from avstudio.pipeline.eventlog import EventLogWriter
    from avstudio.pipeline.events import Log

    disk = tiny_disk("1m")
    log = EventLogWriter(disk / "events.jsonl")
    log.write(Log(stage="s", message="fits"))
    fill(disk, leave=0)
    with pytest.raises(StorageError, match=f"^no space left on device in {disk} writing events.jsonl"):
        log.write(Log(stage="s", message="x" * 20000))
    log.write(Log(stage="s", message="dropped"))  # the stage's failure can still be reported
    log.close()
    log.close()
    first = (disk / "events.jsonl").read_text().splitlines()[0]
    assert json.loads(first)["message"] == "fits"


def test_manifest_write_and_resume_chunk_on_a_full_disk(tiny_disk):
    from avstudio.render.resume import ChunkSpool
    from avstudio.workspace.manifest import write_text_atomic

    disk = tiny_disk("1m")
    target = disk / "avstudio.toml"
    target.write_text("# mine\n")
    spool = ChunkSpool(disk / "resume", "ab" * 20, frame_shape=(64, 64, 3))
    spool.write(0, np.zeros((2, 64, 64, 3), np.uint8))
    fill(disk, leave=0)
    with pytest.raises(StorageError, match="^no space left on device in .* writing avstudio.toml"):
        write_text_atomic(target, "x" * 100_000)
    assert target.read_text() == "# mine\n" and not (disk / ".avstudio.toml.tmp").exists()
    with pytest.raises(StorageError) as info:
        spool.write(2, np.zeros((8, 64, 64, 3), np.uint8))
    assert info.value.one_line() == (f"no space left on device in {spool.dir} writing a resume chunk (it needs about "
                                     "96.0 KB; 0 B is free) (free at least 96.0 KB on that disk or move the "
                                     "workspace to a bigger one, then run again; earlier outputs are intact)")
    assert [p.name for p in spool.dir.iterdir()] == ["chunk-000000000.npy"]
    assert spool.resume_point()[0] == 2


def test_a_checkpoint_on_a_full_disk_leaves_no_half_folder(tiny_disk):
    from avstudio.mapper.checkpoint import save_checkpoint

    disk = tiny_disk("1m")
    save_checkpoint(disk / "ck", "small", state_dict={"w": np.zeros(10, "f4")}, config={}, metrics={})
    fill(disk, leave=64 * 1024)
    with pytest.raises(StorageError) as info:  # safetensors says "(os error 28)"
        save_checkpoint(disk / "ck", "big", state_dict={"w": np.zeros(100_000, "f4")}, config={}, metrics={})
    assert info.value.message.startswith(f"no space left on device in {disk / 'ck'} writing checkpoint big (it needs "
                                         "about 390.6 KB; ")
    assert sorted(p.name for p in (disk / "ck").iterdir()) == ["small"]


def test_read_only_workspace_refuses_writers_in_one_line(tmp_path, read_only_view):
    from avstudio.workspace.lock import WorkspaceLock

    (tmp_path / "ws" / ".avstudio").mkdir(parents=True)
    view = read_only_view(tmp_path / "ws")
    with pytest.raises(StorageError) as info:
        WorkspaceLock(view / ".avstudio" / "lock").acquire()
    assert info.value.message == f"cannot write in {view / '.avstudio'}: the file system is read-only"
    assert not isinstance(info.value, LockError)


# --------------------------------------------------------------------------- stale temporary files


def test_stale_temps_go_when_the_lock_is_taken_and_not_while_another_writer_holds_it(tmp_path):
    from avstudio.workspace.layout import Layout
    from avstudio.workspace.lock import WorkspaceLock

    layout = Layout(tmp_path)
    for folder in (layout.outputs, layout.tmp_dir):
        folder.mkdir(parents=True)
    stale = [layout.outputs / ".sonified.k2j3h4.part.mp4", layout.outputs / ".sonified.x1.part.wav",
             layout.outputs / ".compare.png.999999999.tmp", layout.tmp_dir / "sonify.h5",
             layout.state_dir / "state.json.tmp", layout.state_dir / ".holder.json.999999999.tmp"]
    kept = [layout.outputs / "sonified.mp4", layout.outputs / ".hidden-notes.txt",
            layout.outputs / f".compare.png.{os.getpid()}.tmp", layout.state_dir / "state.json"]
    for path in stale + kept:
        path.write_text("x")
    (layout.outputs / ".dir.part.mp4").mkdir()  # folders are never removed

    holder = WorkspaceLock(layout.lock_file)
    holder.acquire(command="first")
    holder.release()
    assert [p for p in stale if p.exists()] == [] and all(p.exists() for p in kept)
    assert (layout.outputs / ".dir.part.mp4").is_dir()

    holder.acquire(command="writer")  # a live writer's temp file is never touched by a second process
    live = layout.outputs / ".painted.abc.part.mp4"
    live.write_text("being written")
    try:
        with pytest.raises(LockError):
            WorkspaceLock(layout.lock_file).acquire(command="second")
        assert live.read_text() == "being written"
    finally:
        holder.release()
