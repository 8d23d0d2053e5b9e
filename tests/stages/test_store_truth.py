"""``status`` believes the committed stage files, not only ``.avstudio/state.json``."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import h5py
from click.testing import CliRunner

from avstudio.cli import cli
from avstudio.workspace.store import SCHEMA_VERSION
from avstudio.workspace.workspace import Workspace
from tests.conftest import run_all

KILL_AFTER_COMMIT = textwrap.dedent("""
    import os, signal, sys
    import avstudio.pipeline.runner as runner
    from avstudio.workspace.workspace import Workspace

    record = runner.update_stage
    def killed_before_recording(path, stage, **entries):
        if stage == sys.argv[2] and "done" in entries:
            os.kill(os.getpid(), signal.SIGKILL)  # store/<stage>.h5 is committed, state.json not yet written
        record(path, stage, **entries)
    runner.update_stage = killed_before_recording
    runner.run(Workspace(sys.argv[1]), [sys.argv[2]])
""")


def states(root):
    return {s.name: s for s in Workspace(root).status()}


def test_sigkill_between_commit_and_state_write(make_ws, solid_clip):
    ws = make_ws(solid_clip, features__flow_size=48)
    run_all(ws, "features")
    ws.manifest.set("features.flow_size", 32)
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_COMMIT, str(ws.root), "features"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with h5py.File(ws.layout.stage_file("features"), "r") as f:
        assert '"features.flow_size":32' in f["features"].attrs["parts"]  # the new output was committed
    # state.json still records flow_size 48, but the file says 32: with 32 in the manifest it is fresh ...
    assert states(ws.root)["features"].state == "fresh"
    # ... and after reverting to 48 it is stale, although state.json matches the manifest again.
    Workspace(ws.root).manifest.set("features.flow_size", 48)
    st = states(ws.root)["features"]
    assert st.state == "stale" and st.reasons == ["params.features.flow_size changed (32 -> 48)"]
    result, _ = run_all(Workspace(ws.root), "features")
    assert result.ran == ["features"] and states(ws.root)["features"].state == "fresh"


def test_a_file_without_recorded_parts_is_compared_by_fingerprint(make_ws, solid_clip):
    ws = make_ws(solid_clip)
    run_all(ws, "features")
    with h5py.File(ws.layout.stage_file("features"), "a") as f:
        del f["features"].attrs["parts"]  # as an older avstudio wrote it
        f["features"].attrs["fingerprint"] = "0" * 64
    st = states(ws.root)["features"]
    assert st.state == "stale"
    assert st.reasons == ["store/features.h5 was made from other inputs than .avstudio/state.json records "
                          "(a run stopped between the two)"]


def test_a_newer_schema_stage_file_is_never_fresh_and_nothing_is_overwritten(make_ws, solid_clip):
    ws = make_ws(solid_clip)
    run_all(ws, "features")
    path = ws.layout.stage_file("features")
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    before = {p.name: p.read_bytes() for p in ws.layout.store_dir.glob("*.h5")}
    st = states(ws.root)["features"]
    assert st.state == "stale" and "written by a newer avstudio" in st.reasons[0]
    result = CliRunner().invoke(cli, ["run", "-C", str(ws.root), "--force", "features"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "written by a newer avstudio" in result.output
    assert {p.name: p.read_bytes() for p in ws.layout.store_dir.glob("*.h5")} == before


def test_a_damaged_stage_file_is_stale_and_a_run_replaces_it(make_ws, solid_clip):
    ws = make_ws(solid_clip)
    run_all(ws, "features")
    path = ws.layout.stage_file("features")
    path.write_bytes(path.read_bytes()[:100])
    st = states(ws.root)["features"]
    assert st.state == "stale"
    assert st.reasons == [f"{path} is damaged (not a readable HDF5 file) "
                          "(rerun the stage that wrote it: avstudio run --force features)"]
    result, _ = run_all(Workspace(ws.root), "features")
    assert result.ran == ["features"] and states(ws.root)["features"].state == "fresh"


def test_a_damaged_root_store_is_rebuilt_by_the_next_run(make_ws, solid_clip):
    ws = make_ws(solid_clip)
    run_all(ws, "features")
    ws.layout.store.write_bytes(b"not hdf5")
    result, _ = run_all(Workspace(ws.root), "features", force=True)
    assert result.ran == ["features"]
    with Workspace(ws.root).store.open_root() as root:
        assert root["features/brightness"].shape == (90,)
