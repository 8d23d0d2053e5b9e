"""Bad input a user can cause is one line naming the problem and the fix, with a non-zero exit: never
``internal error``, never a traceback (unless ``AVSTUDIO_DEBUG=1``), and nothing already made is lost."""

from __future__ import annotations

import json
import os
import shutil
import socket

import pytest
from click.testing import CliRunner

from avstudio.cli import cli
from tests.tmpfs import read_only_view  # noqa: F401 (fixture)


def invoke(*args, debug=""):
    runner = CliRunner()
    return runner.invoke(cli, [str(a) for a in args], env={"AVSTUDIO_DEBUG": debug}, catch_exceptions=False)


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    return lines[0].removeprefix("error: ")


@pytest.fixture(scope="module")
def done_ws(tmp_path_factory, solid_clip):
    """A sonify workspace run to the end (copied by each test)."""
    root = tmp_path_factory.mktemp("bad") / "ws"
    assert invoke("init", root, "--video", solid_clip).exit_code == 0
    assert invoke("run", "-C", root).exit_code == 0
    return root


@pytest.fixture
def ws(done_ws, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(done_ws, root, symlinks=True)
    return root


def outputs_of(root):
    return {p.name: p.read_bytes() for p in sorted((root / "outputs").iterdir())}


def write(path, data):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


MANIFEST_CASES = {
    "duplicate key": (lambda text: text.replace("[project]\n", "[project]\nname = 'a'\n", 1),
                      'manifest avstudio.toml is not valid TOML: key "name" is set twice (line '),
    "latin-1 bytes": (lambda text: ("# caf\u00e9 au lait\n" + text).encode("latin-1"),
                      "manifest avstudio.toml is not UTF-8 text: byte 0xe9 at line 1, column 6 (save it as UTF-8"),
    "UTF-16 with BOM": (lambda text: ("\ufeff" + text).encode("utf-16-le"),
                        "manifest avstudio.toml is UTF-16 text; TOML files must be UTF-8 (save it as UTF-8"),
}


@pytest.mark.parametrize("case", list(MANIFEST_CASES))
@pytest.mark.parametrize("command", [["status"], ["run"], ["logs"]])
def test_bad_manifest_encodings_and_duplicate_keys(ws, case, command):
    change, expected = MANIFEST_CASES[case]
    manifest = ws / "avstudio.toml"
    write(manifest, change(manifest.read_text(encoding="utf-8")))
    before = outputs_of(ws)
    r = invoke(*command, "-C", ws)
    assert r.exit_code == 1 and error_line(r).startswith(expected)
    assert outputs_of(ws) == before


def test_a_utf8_byte_order_mark_is_accepted(ws):
    manifest = ws / "avstudio.toml"
    write(manifest, b"\xef\xbb\xbf" + manifest.read_bytes())
    r = invoke("status", "-C", ws, "--json")
    assert r.exit_code == 0 and {s["state"] for s in json.loads(r.output)["stages"]} == {"fresh"}


STATE_CASES = {
    "a list": ("[]", 'is damaged: expected an object {"stages": {...}}, found a list'),
    "stages a list": ('{"stages": []}', 'is damaged: "stages" is a list, not an object of stage records'),
    "a record a number": ('{"stages": {"extract": 5}}', 'is damaged: the record of stage "extract" is a number'),
    "done a number": ('{"stages": {"extract": {"done": 5}}}', 'is damaged: "extract.done" is a number, not an object'),
    "seconds a string": ('{"stages": {"sonify": {"last_run": {"seconds": "x"}}}}',
                         'is damaged: "sonify.last_run.seconds" is a string'),
    "not JSON": ('{"stages": {', "is damaged: not JSON (Expecting"),
    "empty": ("", "is damaged: empty file"),
    "latin-1": (b'{"stages": {"\xe9": {}}}', "is damaged: byte 0xe9 at offset 13 is not UTF-8 text"),
    "newer schema": ('{"schema": 7, "stages": {}}',
                     "was written by a newer avstudio (state schema 7, this one reads 1)"),
}


@pytest.mark.parametrize("case", list(STATE_CASES))
def test_a_damaged_state_file_is_one_line_and_deleting_it_recovers(ws, case):
    data, expected = STATE_CASES[case]
    state = ws / ".avstudio" / "state.json"
    write(state, data)
    for command in (["status"], ["run", "--dry-run"], ["run"]):
        r = invoke(*command, "-C", ws)
        assert r.exit_code == 1 and expected in error_line(r)
    line = error_line(r)
    assert line.startswith(f"{state} ")
    if "newer" not in case:
        assert line.endswith(f"(delete it: rm {state}; the results in store/ are kept and `avstudio status` checks "
                             "them again)")
    state.unlink()
    r = invoke("status", "-C", ws, "--json")  # the store files carry their fingerprints: nothing reruns
    assert r.exit_code == 0 and {s["state"] for s in json.loads(r.output)["stages"]} == {"fresh"}


@pytest.mark.parametrize("where, command, expected", [
    (".avstudio/state.json", ["status"], "cannot read {path}: Is a directory (check its permissions, or delete it"),
    (".avstudio/holder.json", ["run"], "cannot write {path}: a folder is where a file should be (something avstudio "
                                       "did not make is in the way there: move it aside and run again)"),
    (".avstudio/lock", ["run"], "cannot write {path}: a folder is where a file should be (something avstudio"),
    (".avstudio/lock", ["clean", "--outputs", "-y"], "cannot write {path}: a folder is where a file should be"),
    ("logs/events.jsonl", ["run", "--force", "sonify"], "cannot write {path}: a folder is where a file should be"),
    ("logs/events.jsonl", ["logs"], "cannot read the event log {path}: Is a directory (move it aside"),
])
def test_a_folder_where_a_file_belongs(ws, where, command, expected):
    path = ws / where
    path.unlink(missing_ok=True)
    path.mkdir()
    before = outputs_of(ws)
    r = invoke(*command, "-C", ws)
    assert r.exit_code == 1 and error_line(r).startswith(expected.format(path=path))
    assert outputs_of(ws) == before


@pytest.mark.parametrize("where", ["logs", ".avstudio"])
def test_a_file_where_a_folder_belongs(ws, where):
    shutil.rmtree(ws / where)
    (ws / where).write_text("a file")
    r = invoke("run", "--force", "sonify", "-C", ws)
    assert r.exit_code == 1 and error_line(r).startswith(f"cannot write {ws / where}: a file is where a folder "
                                                         "should be (something avstudio did not make")


def test_a_damaged_event_log_skips_the_bad_lines(ws):
    log = ws / "logs" / "events.jsonl"
    with open(log, "ab") as f:
        f.write(b"not json\n\xe9\xff latin-1\n[1, 2]\n5\n")
        f.write(json.dumps({"event": "run_started", "run_id": 7, "time": "noon"}).encode() + b"\n")
        f.write(json.dumps({"event": "stage_finished", "run_id": "zz", "stage": "sonify", "seconds": "x"}).encode()
                + b"\n")
    r = invoke("logs", "-C", ws)
    assert r.exit_code == 0 and "[assemble] done in " in r.output and " ok in " in r.output.splitlines()[-1]
    assert invoke("logs", "-C", ws, "--run", "zz").exit_code == 1  # the damaged lines are no run


def test_a_holder_file_with_a_damaged_start_time(ws):
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": "noon", "run_id": "abc", "stage": "x"}
    (ws / ".avstudio" / "holder.json").write_text(json.dumps(holder))
    r = invoke("run", "--detach", "-C", ws)
    assert r.exit_code == 1
    assert error_line(r).startswith(f"another avstudio run is writing to this workspace (pid {os.getpid()} on "
                                    f"{socket.gethostname()}, running x) (wait for it")


def test_a_folder_as_the_video_lets_status_answer(ws):
    manifest = ws / "avstudio.toml"
    text = manifest.read_text()
    video = text.split('video = "', 1)[1].split('"', 1)[0]
    manifest.write_text(text.replace(video, str(ws / "outputs")))
    r = invoke("status", "-C", ws)
    assert r.exit_code == 0 and r.output.startswith("extract    stale     (params.media.video changed (")
    assert r.output.splitlines()[0].endswith("; source video changed)")


def test_clean_removes_a_linked_outputs_folder_not_what_it_points_to(ws, tmp_path):
    elsewhere = tmp_path / "my-videos"
    elsewhere.mkdir()
    (elsewhere / "holiday.mp4").write_bytes(b"precious")
    shutil.rmtree(ws / "outputs")
    (ws / "outputs").symlink_to(elsewhere, target_is_directory=True)
    r = invoke("clean", "--outputs", "-y", "-C", ws)
    assert r.exit_code == 0 and "deleted outputs" in r.output
    assert (elsewhere / "holiday.mp4").read_bytes() == b"precious"
    assert (ws / "outputs").is_dir() and not (ws / "outputs").is_symlink()


@pytest.mark.parametrize("command", [["run"], ["run", "--force", "sonify"], ["run", "--detach"],
                                     ["clean", "--outputs", "-y"]])
def test_a_read_only_workspace_refuses_writers_and_serves_readers(ws, read_only_view, command):
    view = read_only_view(ws)
    r = invoke(*command, "-C", view)
    assert r.exit_code == 1
    line = error_line(r)
    assert line.startswith(f"cannot write in {view}/") and line.split(" (", 1)[0].endswith(
        ": the file system is read-only")
    assert line.endswith("(copy the workspace to a writable disk or remount this one read-write; status, show, "
                         "logs and export work read-only)")
    for reader in (["status"], ["logs"], ["export"]):
        assert invoke(*reader, "-C", view).exit_code == 0
    assert invoke("show", view).exit_code == 0


def test_debug_prints_the_traceback_of_a_failed_stage_inside_run(ws, monkeypatch):
    from avstudio.stages.sonify import SonifyStage

    def broken(self, ctx):
        return {}["no such key"]

    monkeypatch.setattr(SonifyStage, "run", broken)
    quiet = invoke("run", "--force", "sonify", "-C", ws)
    assert quiet.exit_code == 1
    assert "[sonify] failed: internal error in stage sonify: KeyError: 'no such key'" in quiet.stderr
    assert "Traceback" not in quiet.output
    loud = invoke("run", "--force", "sonify", "-C", ws, debug="1")
    assert loud.exit_code == 1
    assert "Traceback (most recent call last):" in loud.stderr and 'return {}["no such key"]' in loud.stderr
    assert loud.stderr.index("[sonify] failed:") < loud.stderr.index("Traceback")
    assert "Traceback" not in loud.stdout


def test_the_next_run_removes_what_killed_runs_left_and_readers_do_not(ws):
    leftovers = [ws / "outputs" / ".sonified.8f2k1x.part.mp4", ws / "outputs" / ".sonified.q0z9w.part.wav",
                 ws / ".avstudio" / "tmp" / "sonify.h5", ws / ".avstudio" / "state.json.tmp"]
    for path in leftovers:
        path.write_bytes(b"half written")
    mine = ws / "outputs" / "my-notes.txt"
    mine.write_text("mine")
    before = outputs_of(ws)
    for reader in (["status"], ["run", "--dry-run"], ["logs"]):
        assert invoke(*reader, "-C", ws).exit_code == 0
    assert all(p.exists() for p in leftovers)
    r = invoke("run", "-C", ws)
    assert r.exit_code == 0 and "nothing to do" in r.output
    assert [p for p in leftovers if p.exists()] == []
    assert outputs_of(ws) == {k: v for k, v in before.items() if ".part." not in k} and mine.read_text() == "mine"
