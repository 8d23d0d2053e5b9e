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
    (lambda t: t.replace('# scale = "pentatonic"', 'scale = "lydian" #'), "sonify.scale", "minor_pentatonic"),
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
    assert "[sonify] failed: cannot create output folder" in r.output  # the first stage that writes there


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


def test_a_closed_pipe_neither_prints_a_traceback_nor_stops_the_run(tmp_path, solid_clip):
    import os

    from avstudio.workspace.workspace import Workspace

    ws = tmp_path / "ws"
    invoke(CliRunner(), "init", ws, "--template", "sonify", "--video", solid_clip)
    env = {**os.environ, "AVSTUDIO_DEBUG": ""}
    # `avstudio run | head -1`: the reader goes away after the first line
    run = subprocess.run(f"{sys.executable} -m avstudio run -C {ws} | head -1", shell=True, capture_output=True,
                         text=True, env=env, timeout=120)
    assert run.stdout.count("\n") == 1 and "Traceback" not in run.stderr and "error" not in run.stderr
    assert {s.state for s in Workspace(ws).status()} == {"fresh"}  # the run went on to the end
    proc = subprocess.Popen([sys.executable, "-m", "avstudio", "status", "-C", str(ws)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # `avstudio status | head` with head already gone
    assert proc.wait(timeout=60) == 0 and proc.stderr.read() == b""


def test_outputs_and_checkpoints_honour_the_umask(tmp_path, solid_clip):
    import os
    import stat

    ws = tmp_path / "ws"
    invoke(CliRunner(), "init", ws, "--template", "sonify", "--video", solid_clip)
    code = ("import os, sys; os.umask(0o027); from avstudio.cli import main; sys.argv = ['avstudio', 'run', '-C', "
            f"{str(ws)!r}]; main()")
    subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, timeout=120)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (ws / "outputs").iterdir()}
    assert modes == {"sonified.wav": 0o640, "sonified.mp4": 0o640, "sonify.png": 0o640}
    from avstudio.mapper.checkpoint import save_checkpoint

    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "ck", "m", state_dict={"w": __import__("numpy").zeros(2)}, config={},
                               metrics={}, extras={"x": __import__("numpy").ones(1)})
    finally:
        os.umask(old)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.iterdir()} == {
        "model.safetensors": 0o644, "extras.safetensors": 0o644, "metrics.json": 0o644, "config.json": 0o644}


@pytest.mark.parametrize("command", [["paint", "--audio", "x.wav"], ["checkpoints"], ["compare", "a", "b"]])
def test_painter_commands_on_a_sonify_workspace_say_so(runner, tmp_path, solid_clip, command):
    ws = tmp_path / "ws"
    invoke(runner, "init", ws, "--template", "sonify", "--video", solid_clip)
    r = invoke(runner, *command, "-C", ws)
    assert r.exit_code == 1
    assert one_error_line(r).startswith(f"error: `avstudio {command[0]}` works on bad-apple workspaces; ")


def test_dry_run_templates_show_dash_c_and_init_force_backup(runner, tmp_path, solid_clip):
    ws = tmp_path / "ws"
    invoke(runner, "init", ws, "--template", "sonify", "--video", solid_clip)
    r = invoke(runner, "run", "-C", ws, "--dry-run")
    assert r.exit_code == 0 and r.output.splitlines()[0] == "would run extract    (never run)"
    assert "would run assemble" in r.output and not (ws / "store" / "extract.h5").exists()  # nothing ran
    invoke(runner, "run", "-C", ws)
    r = invoke(runner, "run", "-C", ws, "-n", "--force", "features", "--downstream")
    assert r.output.splitlines() == ["skip      extract    (fresh)", "would run features   (forced)",
                                     "would run sonify     (forced)", "would run assemble   (forced)"]
    r = invoke(runner, "templates")
    assert "bad-apple" in r.output and "extract -> features -> embed -> train -> paint -> evaluate -> assemble" in r.output
    r = invoke(runner, "show", "-C", ws)
    assert r.exit_code == 0 and "extract/" in r.output
    (ws / "avstudio.toml").write_text((ws / "avstudio.toml").read_text() + "\n# my note\n")
    invoke(runner, "init", ws, "--template", "sonify", "--video", solid_clip, "--force")
    assert (ws / "avstudio.toml.bak").read_text().endswith("# my note\n")
    assert "# my note" not in (ws / "avstudio.toml").read_text()


def test_clean_asks_first_and_deletes_only_what_it_names(runner, tmp_path, solid_clip):
    ws = tmp_path / "ws"
    invoke(runner, "init", ws, "--template", "sonify", "--video", solid_clip)
    invoke(runner, "run", "-C", ws)
    r = runner.invoke(cli, ["clean", "-C", str(ws), "--outputs"], input="n\n")
    assert "nothing deleted" in r.output and (ws / "outputs" / "sonified.wav").exists()
    r = runner.invoke(cli, ["clean", "-C", str(ws), "--outputs"], input="y\n")
    assert r.exit_code == 0 and not list((ws / "outputs").iterdir())
    r = invoke(runner, "clean", "-C", ws, "--store", "--yes")
    assert r.exit_code == 0 and (ws / "avstudio.toml").exists()
    r = invoke(runner, "status", "-C", ws, "--json")
    assert {s["state"] for s in json.loads(r.output)["stages"]} == {"missing"}
    r = invoke(runner, "clean", "-C", ws)
    assert r.exit_code == 1 and one_error_line(r) == "error: say what to clean (pass --outputs, --store or --all)"


def test_shell_completion_offers_stage_names_of_the_workspace(tmp_path, solid_clip):
    import os

    ws = tmp_path / "ws"
    invoke(CliRunner(), "init", ws, "--template", "sonify", "--video", solid_clip)
    env = {**os.environ, "_AVSTUDIO_COMPLETE": "bash_complete", "COMP_WORDS": f"avstudio run -C {ws} s",
           "COMP_CWORD": "4"}
    out = subprocess.run([sys.executable, "-m", "avstudio"], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["plain,sonify"]


def test_checkpoints_tag_rm_and_prune(runner, tmp_path, solid_clip):
    import numpy as np

    from avstudio.mapper.checkpoint import FORMAT, list_checkpoints, new_checkpoint_name, save_checkpoint

    ws = tmp_path / "ba"
    invoke(runner, "init", ws, "--template", "bad-apple", "--video", solid_clip)
    root = ws / "checkpoints"
    names = []
    for k, loss in enumerate((0.5, 0.2, 0.9, 0.7)):  # the second is best; created in this order
        name = new_checkpoint_name(root)
        save_checkpoint(root, name, state_dict={"w": np.zeros(2)}, metrics={},
                        config={"format": FORMAT, "data_fingerprint": "d", "selection_loss": loss,
                                "best": k == 1, "created": f"2026-01-0{k + 1}T00:00:00+00:00"})
        names.append(name)
    r = invoke(runner, "checkpoints", "tag", names[2], "wide", "-C", ws)
    assert r.exit_code == 0 and r.output.strip() == f"{names[2]} is now tagged wide"
    r = invoke(runner, "checkpoints", "tag", names[3], "wide", "-C", ws)
    assert r.exit_code == 1 and f"tag 'wide' already names checkpoint {names[2]}" in one_error_line(r)
    r = invoke(runner, "checkpoints", "-C", ws)
    assert all(len(line.split()[0]) == 6 for line in r.output.splitlines()[1:5])  # short names fit 80 columns
    assert max(len(line) for line in r.output.splitlines()[:5]) <= 80 and "wide" in r.output
    r = runner.invoke(cli, ["checkpoints", "rm", "wide", "-C", str(ws)], input="n\n")
    assert "nothing deleted" in r.output and (root / names[2]).is_dir()
    r = invoke(runner, "checkpoints", "rm", "wide", names[1], "-C", ws, "--yes")
    assert r.exit_code == 0 and not (root / names[2]).exists()
    assert r.output.strip().endswith(f"best is now {names[0]}")  # the best went: the next lowest loss is best
    r = invoke(runner, "checkpoints", "prune", "--keep", "0", "-C", ws, "--yes")
    assert r.exit_code == 0 and [i.name for i in list_checkpoints(root)] == [names[0]]  # the best stays
