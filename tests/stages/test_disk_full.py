"""A disk that fills during a stage: one line naming the folder and the space, the temp file gone, earlier
outputs intact, and the next run (with space) goes on. On a tiny tmpfs; skipped where mounting is not allowed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from avstudio.workspace.state import load_state
from tests.tmpfs import fill, tiny_disk  # noqa: F401 (fixture)

ENV = {**os.environ, "AVSTUDIO_DEBUG": "", "PYTHONUNBUFFERED": "1"}


def avstudio(*args):
    return subprocess.run([sys.executable, "-m", "avstudio", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=120)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def workspace_on_a_tiny_disk(tiny_disk, tmp_path):
    """A sonify workspace of a 1 s clip on a 4 MB tmpfs: ``(disk, workspace)``."""
    from tests.synthmedia import make_video, solid_frames, tone

    clip = make_video(tmp_path / "clip.mp4", solid_frames(30, 48, 64, (200, 100, 50)), fps=30,
                      audio=tone(1.0, 44100, 440.0, 0.3), audio_sr=44100)
    disk = tiny_disk("4m")
    ws = disk / "ws"
    assert avstudio("init", ws, "--video", clip).returncode == 0
    return disk, ws


def test_a_stage_that_fills_the_disk_fails_in_one_line_and_keeps_earlier_outputs(tiny_disk, tmp_path):
    disk, ws = workspace_on_a_tiny_disk(tiny_disk, tmp_path)
    r = avstudio("run", "features", "-C", ws)
    assert r.returncode == 0, r.stderr
    kept = {name: digest(ws / "store" / f"{name}.h5") for name in ("extract", "features")}

    filler = fill(disk, leave=96 * 1024)  # sonify writes 1 s of float32 stereo: 345 KB
    r = avstudio("run", "-C", ws)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out  # not a crash of HDF5 at exit (139), not an internal error
    assert "Traceback" not in out and "internal error" not in out, out
    lines = [line for line in out.splitlines() if "no space left on device" in line]
    assert len(lines) == 1, out
    assert lines[0].startswith(f"[sonify] failed: no space left on device in {ws / '.avstudio' / 'tmp'} writing "
                               "store/sonify.h5 (it needs more than ")
    assert lines[0].endswith(" is free) (free space on that disk or move the workspace to a bigger one, then run "
                             "again; earlier outputs are intact)")
    assert "[assemble] skipped: upstream sonify failed" in out
    assert os.listdir(ws / ".avstudio" / "tmp") == []
    assert {name: digest(ws / "store" / f"{name}.h5") for name in kept} == kept
    assert not (ws / "store" / "sonify.h5").exists()
    last = load_state(ws / ".avstudio" / "state.json")["stages"]["sonify"]["last_run"]
    assert last["status"] == "failed" and last["error"].startswith("no space left on device in ")

    filler.unlink()  # space again: the next run finishes the job without redoing extract or features
    r = avstudio("run", "-C", ws)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[extract] skipped: fresh" in r.stdout and "[sonify] done in" in r.stdout
    assert (ws / "outputs" / "sonified.mp4").is_file()


def test_outputs_that_fill_the_disk_keep_the_previous_ones(tiny_disk, tmp_path):
    disk, ws = workspace_on_a_tiny_disk(tiny_disk, tmp_path)
    assert avstudio("run", "-C", ws).returncode == 0
    outputs = ws / "outputs"
    before = {p.name: digest(p) for p in outputs.iterdir()}
    assert sorted(before) == ["sonified.mp4", "sonified.wav", "sonify.png"]
    from avstudio.workspace.manifest import load_manifest
    from avstudio.workspace.layout import find_layout

    load_manifest(find_layout(ws)).set("output.wav_subtype", "FLOAT")  # only assemble reruns: a 345 KB WAV
    fill(disk, leave=96 * 1024)
    r = avstudio("run", "-C", ws)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "Traceback" not in out and "internal error" not in out, out
    (line,) = [line for line in out.splitlines() if "no space left on device" in line]
    assert line.startswith(f"[assemble] failed: no space left on device in {outputs} writing sonified.wav (it needs "
                           "more than ")
    assert {p.name: digest(p) for p in outputs.iterdir()} == before  # no .part file, the old outputs as they were
