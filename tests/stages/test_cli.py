"""CLI commands end to end through Click's runner, and their one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import pytest
from click.testing import CliRunner

from avstudio.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args, env=None):
    return runner.invoke(cli, [str(a) for a in args], env=env or {"AVSTUDIO_DEBUG": ""}, catch_exceptions=False)


def one_error_line(result):
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_init_run_status_show_export(runner, tmp_path, solid_clip):
    ws = tmp_path / "ws"
    r = invoke(runner, "init", ws, "--template", "sonify", "--video", solid_clip)
    assert r.exit_code == 0 and f"avstudio run -C {ws}" in r.output
    r = invoke(runner, "run", "-C", ws)
    assert r.exit_code == 0, r.output
    assert "[assemble] done" in r.output and "[extract] 90/90 frames" in r.output
    r = invoke(runner, "status", "-C", ws, "--json")
    data = json.loads(r.output)
    assert [s["state"] for s in data["stages"]] == ["fresh"] * 4
    r = invoke(runner, "run", "-C", ws)
    assert "nothing to do" in r.output
    r = invoke(runner, "run", "-C", ws, "--json", "--force", "sonify")
    events = [json.loads(line) for line in r.output.splitlines()]
    assert [e["event"] for e in events if e["event"] in ("stage_started", "stage_finished")] == [
        "stage_started", "stage_finished"]
    r = invoke(runner, "show", ws)
    assert "frames  uint8 (90, 48, 64, 3) lzf" in r.output and "schema_version=1" in r.output
    r = invoke(runner, "export", "-C", ws, "--format", "json")
    assert json.loads(r.output)["video_duration"] == 3.0
    out = tmp_path / "f.csv"
    r = invoke(runner, "export", "-C", ws, "--format", "csv", "--out", out)
    assert r.exit_code == 0 and len(out.read_text().splitlines()) == 91


def test_init_refuses_existing_workspace_unless_forced(runner, tmp_path, solid_clip):
    ws = tmp_path / "ws"
    assert invoke(runner, "init", ws, "--video", solid_clip).exit_code == 0
    (ws / "avstudio.toml").write_text((ws / "avstudio.toml").read_text() + "\n# my note\n")
    r = invoke(runner, "init", ws, "--video", solid_clip)
    assert r.exit_code == 1 and "--force" in one_error_line(r)
    assert "# my note" in (ws / "avstudio.toml").read_text()
    assert invoke(runner, "init", ws, "--video", solid_clip, "--force").exit_code == 0


@pytest.mark.parametrize("case, expect", [
    ("missing", "video not found"),
    ("text", "not a media file"),
    ("template", "unknown template"),
])
def test_init_bad_input(runner, tmp_path, solid_clip, case, expect):
    from tests.synthmedia import make_text_file_named_mp4

    video, template = solid_clip, "sonify"
    if case == "missing":
        video = tmp_path / "nope.mp4"
    elif case == "text":
        video = make_text_file_named_mp4(tmp_path / "fake.mp4")
    else:
        template = "bad-orange"
    r = invoke(runner, "init", tmp_path / "ws", "--template", template, "--video", video)
    assert r.exit_code == 1
    assert expect in one_error_line(r)
    assert not (tmp_path / "ws" / "avstudio.toml").exists()


def test_not_a_workspace(runner, tmp_path):
    r = invoke(runner, "status", "-C", tmp_path)
    assert r.exit_code == 1 and "not an avstudio workspace" in one_error_line(r)


@pytest.mark.parametrize("edit, expect, allowed", [
    (lambda t: t.replace("[sonify]", "[sonify\n"), "not valid TOML", "line"),
    (lambda t: t.replace("sample_rate = 44100", "sample_rate = 1000"), "sonify.sample_rate", "8000"),
    (lambda t: t.replace("flow_size = 48", "flow_size = \"big\""), "features.flow_size", "an integer in 16..4096"),
    (lambda t: t.replace("[features]", "[features]\nflow_sise = 3"), "unknown key features.flow_sise", "flow_size"),
    (lambda t: t + "\n[trian]\n", "unknown table [trian]", "sonify"),
    (lambda t: t.replace('scale = "pentatonic"', 'scale = "lydian"'), "sonify.scale", "minor_pentatonic"),
])
def test_invalid_manifest_is_one_line_with_the_dotted_key(runner, tmp_path, solid_clip, edit, expect, allowed):
    ws = tmp_path / "ws"
    invoke(runner, "init", ws, "--video", solid_clip)
    manifest = ws / "avstudio.toml"
    manifest.write_text(edit(manifest.read_text()))
    r = invoke(runner, "run", "-C", ws)
    assert r.exit_code == 1
    line = one_error_line(r)
    assert expect in line and allowed in line


def test_newer_store_schema_is_refused(runner, tmp_path, solid_clip):
    ws = tmp_path / "ws"
    invoke(runner, "init", ws, "--video", solid_clip)
    with h5py.File(ws / "store.h5", "a") as f:
        f.attrs["schema_version"] = 99
    r = invoke(runner, "show", ws)
    assert r.exit_code == 1 and "newer avstudio" in one_error_line(r)


def test_second_concurrent_run_is_refused(runner, tmp_path, solid_clip):
    from avstudio.workspace.lock import WorkspaceLock

    ws = tmp_path / "ws"
    invoke(runner, "init", ws, "--video", solid_clip)
    with WorkspaceLock(ws / ".avstudio" / "lock"):
        r = invoke(runner, "run", "-C", ws)
    assert r.exit_code == 1
    line = one_error_line(r)
    assert "another avstudio run is writing" in line and "pid" in line


def test_unwritable_output_folder(runner, tmp_path, solid_clip):
    ws = tmp_path / "ws"
    invoke(runner, "init", ws, "--video", solid_clip)
    assert not (ws / "outputs").exists()
    (ws / "outputs").write_text("not a folder")
    r = invoke(runner, "run", "-C", ws)
    assert r.exit_code == 1
    assert "[assemble] failed: cannot create output folder" in r.output


def test_debug_shows_traceback_only_when_asked(runner, tmp_path):
    r = invoke(runner, "status", "-C", tmp_path, env={"AVSTUDIO_DEBUG": "1"})
    assert "Traceback" in r.output and "not an avstudio workspace" in r.output


def test_cli_import_does_not_import_torch_and_help_is_fast():
    code = ("import sys, time; t = time.perf_counter(); import avstudio.cli; "
            "heavy = [m for m in ('torch', 'cv2', 'librosa', 'h5py', 'av', 'transformers', 'diffusers', 'textual') "
            "if m in sys.modules]; print(heavy, time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "[]", out
    r = subprocess.run([sys.executable, "-m", "avstudio", "--help"], capture_output=True, text=True, check=True)
    assert "avstudio init DIR --template sonify --video clip.mp4" in r.stdout
