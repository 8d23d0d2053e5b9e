"""One writer at a time."""

import os
import subprocess
import sys
import time

import pytest

from avstudio.errors import LockError
from avstudio.workspace.lock import WorkspaceLock, read_holder


def test_second_writer_is_refused_with_the_holder_named(tmp_path):
    path = tmp_path / "lock"
    first = WorkspaceLock(path)
    first.acquire(command="avstudio run")
    first.set_stage("features")
    try:
        with pytest.raises(LockError) as err:
            WorkspaceLock(path).acquire()
        assert f"pid {os.getpid()}" in err.value.message
        assert "running features" in err.value.message
        assert f"kill -INT {os.getpid()}" in err.value.hint
        holder = read_holder(path)
        assert holder["pid"] == os.getpid() and holder["stage"] == "features"
    finally:
        first.release()
    assert read_holder(path) is None
    with WorkspaceLock(path):
        pass


def test_lock_of_a_killed_process_is_released(tmp_path):
    path = tmp_path / "lock"
    code = (
        "import sys, time; from pathlib import Path;"
        "from avstudio.workspace.lock import WorkspaceLock;"
        f"WorkspaceLock(Path({str(path)!r})).acquire(); print('locked', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        assert read_holder(path)["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()
    deadline = time.time() + 5
    while read_holder(path) is not None and time.time() < deadline:
        time.sleep(0.05)
    assert read_holder(path) is None
    with WorkspaceLock(path):
        pass


def test_readers_polling_never_make_a_writer_fail_to_start(tmp_path):
    """3000 writer starts while two other processes poll the holder as status and the TUI do."""
    path = tmp_path / "lock"
    stop = tmp_path / "stop"
    code = (
        "import sys; from pathlib import Path; from avstudio.workspace.lock import read_holder;"
        f"p, stop = Path({str(path)!r}), Path({str(stop)!r}); n = 0\n"
        "while not stop.exists():\n    read_holder(p); n += 1\n"
        "print(n)"
    )
    readers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        time.sleep(0.5)  # let the readers start polling
        failed = 0
        for _ in range(3000):
            lock = WorkspaceLock(path)
            try:
                lock.acquire(command="avstudio run")
            except LockError:
                failed += 1
                continue
            lock.set_stage("extract")
            lock.release()
    finally:
        stop.write_text("")
        polls = [int(r.communicate(timeout=30)[0]) for r in readers]
    assert failed == 0
    assert min(polls) > 100  # the readers really were polling meanwhile
