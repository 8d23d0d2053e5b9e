"""The paint stage's resume spool on a small trained bad-apple workspace: a linked spool folder never costs its
target a file, a chunk that does not fit is painted again, ``--force`` starts from the first frame, and a
damaged evaluation report is one line."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from avstudio.cli import cli
from avstudio.pipeline.fingerprint import fingerprint
from avstudio.workspace.workspace import Workspace
from tests.conftest import run_all

FPS, SECONDS, SR, W, H = 10, 14.0, 22050, 48, 36


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"AVSTUDIO_DEBUG": ""}, catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from avstudio.workspace.create import create_workspace
    from tests.stages.test_blind_painter import shadow_song
    from tests.synthmedia import make_video

    frames, audio = shadow_song(SECONDS, FPS, SR, overtone=0.0)
    folder = tmp_path_factory.mktemp("spool")
    clip = make_video(folder / "shadow.mp4", frames, fps=FPS, audio=audio, audio_sr=SR)
    create_workspace(folder / "ws", template="bad-apple", video=clip)
    ws = Workspace(folder / "ws")
    for key, value in {"analysis.fps": "source", "train.epochs": 5, "train.hidden": 16,
                       "encoders.components": 8}.items():
        ws.manifest.set(key, value)
    result, events = run_all(Workspace(ws.root))
    assert result.exit_code == 0, [e for e in events if e.kind == "stage_failed"]
    return ws.root


@pytest.fixture
def ws(trained, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(trained, root, symlinks=True)
    return root


def painted(root) -> np.ndarray:
    with Workspace(root).store.read("paint") as g:
        return g["frames"][:]


def spool_dir(root) -> "Path":  # noqa: F821
    return root / ".avstudio" / "resume" / "paint" / fingerprint(Workspace(root).parts("paint"))[:24]


def tree(folder):
    return sorted((str(p.relative_to(folder)), p.is_symlink() or p.is_dir() or p.read_bytes())
                  for p in folder.rglob("*"))


def test_a_linked_spool_folder_never_costs_its_target_a_file(ws, tmp_path):
    target = tmp_path / "elsewhere"
    (target / "photos" / "2024").mkdir(parents=True)
    (target / "photos" / "2024" / "a.jpg").write_bytes(b"jpg")
    (target / "projects").mkdir()
    (target / "projects" / "notes.txt").write_text("mine")
    (target / "top.txt").write_text("mine too")
    before = tree(target)
    spool = ws / ".avstudio" / "resume" / "paint"
    shutil.rmtree(spool, ignore_errors=True)
    spool.parent.mkdir(parents=True, exist_ok=True)
    spool.symlink_to(target, target_is_directory=True)
    frames = painted(ws)
    r = invoke("run", "-C", ws, "--force", "paint")
    assert r.exit_code == 0, r.output
    assert tree(target) == before
    np.testing.assert_array_equal(painted(ws), frames)


def test_a_chunk_that_does_not_fit_is_painted_again(ws):
    Workspace(ws).manifest.set("render.seed", 7)  # paint is stale: its spool key is new
    folder = spool_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "chunk-000000000.npy", np.zeros((4, H + 2, W, 3), np.uint8))  # another frame size
    r = invoke("run", "-C", ws, "paint")
    assert r.exit_code == 0, r.output
    first = painted(ws)
    assert first.shape == (int(SECONDS * FPS), H, W, 3)
    r = invoke("run", "-C", ws, "--force", "paint")  # no chunks left: a clean paint gives the same frames
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(painted(ws), first)
    assert not folder.exists()


def test_force_paints_from_the_first_frame_even_over_fitting_chunks(ws):
    frames = painted(ws)
    folder = spool_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    red = np.zeros((1, H, W, 3), np.uint8)
    red[..., 0] = 255
    np.save(folder / "chunk-000000000.npy", red)  # fits: without --force paint would resume after it
    r = invoke("run", "-C", ws, "--force", "paint")
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(painted(ws), frames)


def test_a_file_where_the_spool_folder_belongs_is_one_line(ws):
    spool = ws / ".avstudio" / "resume" / "paint"
    shutil.rmtree(spool, ignore_errors=True)
    spool.parent.mkdir(parents=True, exist_ok=True)
    spool.write_text("not a folder")
    r = invoke("run", "-C", ws, "--force", "paint")
    assert r.exit_code == 1
    assert (f"[paint] failed: cannot write {spool}: a file is where a folder should be (something avstudio did "
            "not make is in the way there: move it aside and run again)") in r.output


def test_a_damaged_evaluation_report_is_one_line(ws):
    from avstudio.mapper.checkpoint import list_checkpoints

    (info,) = list_checkpoints(ws / "checkpoints")
    (info.path / "evaluation.json").write_text('{"subsets": {"music": 5}}')
    r = invoke("checkpoints", "-C", ws)
    assert r.exit_code == 1 and "Traceback" not in r.output and "internal error" not in r.output
    assert r.output.splitlines()[-1] == (
        f"error: the test-block scores of {info.name} are unreadable: {info.path / 'evaluation.json'} is damaged "
        f"(score it again with `avstudio run -C {ws} --force evaluate`)")
