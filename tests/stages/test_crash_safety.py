"""Killing or interrupting a run mid-stage in a subprocess leaves the store and earlier outputs intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from avstudio.workspace.lock import read_holder
from avstudio.workspace.workspace import Workspace
from tests.conftest import run_all


def start_run(ws, *args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "avstudio", "run", "-C", str(ws.root), "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_progress(proc, stage, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        event = json.loads(line)
        if event["event"] == "progress" and event["stage"] == stage and event["done"] < (event["total"] or 1e9):
            return event
    raise AssertionError(f"no {stage} progress before the run ended")


def prepared(make_ws, long_clip):
    ws = make_ws(long_clip, analysis__chunk=8, analysis__size=48)
    run_all(ws, "features")
    with ws.store.read("extract") as ex:
        frames = ex["frames"][:]
    Workspace(ws.root).manifest.set("analysis.size", 64)  # extract (and features) now stale
    return Workspace(ws.root), frames


def test_sigkill_mid_stage_leaves_store_readable_and_earlier_outputs_intact(make_ws, long_clip):
    ws, frames_before = prepared(make_ws, long_clip)
    proc = start_run(ws)
    wait_for_progress(proc, "extract")
    proc.kill()
    proc.wait()
    with ws.store.open_root() as root:
        np.testing.assert_array_equal(root["extract/frames"][:], frames_before)
        assert root["features/brightness"].shape == (360,)
    assert read_holder(ws.layout.lock_file) is None
    status = {s.name: s for s in Workspace(ws.root).status()}
    assert status["extract"].state == "stale" and "params.analysis.size changed (48 -> 64)" in status["extract"].reasons
    result, _ = run_all(Workspace(ws.root), "features")  # recovers: the killed run's temp file is replaced
    assert result.ran == ["extract", "features"]
    with ws.store.read("extract") as ex:
        assert ex["frames"].shape == (360, 48, 64, 3)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_ctrl_c_sigterm_and_sighup_stop_at_next_chunk_and_mark_interrupted(make_ws, long_clip, sig):
    ws, frames_before = prepared(make_ws, long_clip)
    proc = start_run(ws)
    wait_for_progress(proc, "extract")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig  # 130, 143, 129 as shells report them
    assert "avstudio run --detach" in err
    assert read_holder(ws.layout.lock_file) is None
    events = [json.loads(line) for line in out.splitlines()]
    failed = [e for e in events if e["event"] == "stage_failed"]
    assert failed and failed[0]["stage"] == "extract" and failed[0]["interrupted"] is True
    assert events[-1]["event"] == "run_finished" and events[-1]["interrupted"] is True
    with ws.store.read("extract") as ex:
        np.testing.assert_array_equal(ex["frames"][:], frames_before)
    status = {s.name: s for s in Workspace(ws.root).status()}
    assert status["extract"].state == "interrupted" and status["extract"].reasons == ["last run was interrupted"]
    assert status["extract"].last_status == "interrupted"
