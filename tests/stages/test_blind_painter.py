"""The blind painter on built-in backends, on a synthetic clip whose frames follow its audio.

The clip: a 440 Hz tone whose loudness steps every 0.5 s, and a white bar whose
height is that loudness. A mapper that hears must paint the right bar on
held-out time, far better than the mean frame.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from avstudio.cli import cli
from avstudio.workspace.workspace import Workspace
from tests.conftest import run_all

FPS, SECONDS, SR, W, H = 10, 24.0, 22050, 48, 36


def loudness(t: np.ndarray) -> np.ndarray:
    levels = np.random.default_rng(3).uniform(0.08, 0.95, int(SECONDS * 2) + 2)
    return levels[(t * 2).astype(int)]


@pytest.fixture(scope="module")
def bar_clip(tmp_path_factory):
    from tests.synthmedia import make_video

    t = np.arange(int(SECONDS * SR)) / SR
    audio = (np.sin(2 * np.pi * 440 * t) * loudness(t)).astype(np.float32) * 0.8
    n = int(SECONDS * FPS)
    frames = np.zeros((n, H, W, 3), np.uint8)
    for k in range(n):
        height = int(round(loudness(np.array([(k + 0.5) / FPS]))[0] * H))
        frames[k, H - height:, W // 4: 3 * W // 4] = 255
    return make_video(tmp_path_factory.mktemp("bar") / "bar.mp4", frames, fps=FPS, audio=audio, audio_sr=SR)


@pytest.fixture(scope="module")
def trained(bar_clip, tmp_path_factory):
    from avstudio.workspace.create import create_workspace

    root = tmp_path_factory.mktemp("ba") / "ws"
    create_workspace(root, template="bad-apple", video=bar_clip)
    ws = Workspace(root)
    for key, value in {"analysis.fps": "source", "analysis.size": W, "train.epochs": 80, "train.hidden": 128,
                       "encoders.context_seconds": 0.0, "encoders.components": 8}.items():
        ws.manifest.set(key, value)
    ws = Workspace(root)
    result, events = run_all(ws)
    assert result.exit_code == 0, [e for e in events if e.kind == "stage_failed"]
    return ws


def final_metrics(ws):
    from avstudio.mapper.checkpoint import list_checkpoints

    (info,) = list_checkpoints(ws.layout.checkpoints)
    return info, json.loads((info.path / "metrics.json").read_text())["final"]


def test_mapper_beats_the_mean_frame_on_held_out_time(trained):
    info, final = final_metrics(trained)
    mapper, mean = final["mapper"], final["mean_frame"]
    assert final["n_val"] == 36  # last 15 % of 240 frames
    assert mapper["mae"] < 0.5 * mean["mae"]
    assert mapper["ssim"] > mean["ssim"] + 0.2
    assert mapper["iou"] > mean["iou"] + 0.2
    assert mapper["brightness_corr"] > 0.8
    assert mapper["embedding_cosine"] > mean["embedding_cosine"]


def test_checkpoint_folder_and_outputs(trained):
    from avstudio.media.probe import probe

    info, _ = final_metrics(trained)
    assert {p.name for p in info.path.iterdir()} >= {"config.json", "model.safetensors", "metrics.json"}
    config = json.loads((info.path / "config.json").read_text())
    assert config["mapper"]["hidden"] == 128 and config["encoders"]["audio"]["name"] == "builtin-audio"
    assert config["best"] is True and 1 <= config["best_epoch"] <= 80
    with trained.store.read("paint") as pg:
        assert pg["frames"].shape == (240, H, W, 3) and pg.attrs["checkpoint"] == info.name
    video = probe(trained.layout.outputs / "painted.mp4")
    assert video.n_frames == 240 and abs(video.duration - SECONDS) < 0.05 and video.has_audio


def test_paint_new_audio_file_at_another_rate(trained, tmp_path):
    from avstudio.media.probe import probe
    from tests.synthmedia import make_audio_file

    t = np.arange(int(3.5 * 16000)) / 16000
    wav = make_audio_file(tmp_path / "new.wav", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    out = tmp_path / "new.mp4"
    r = CliRunner().invoke(cli, ["paint", "-C", str(trained.root), "--audio", str(wav), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "35 frames" in r.output
    video = probe(out)
    assert video.n_frames == 35 and abs(video.duration - 3.5) < 0.05 and video.has_audio
    r = CliRunner().invoke(cli, ["paint", "-C", str(trained.root), "--audio", str(wav), "--out", str(out),
                                 "--max-frames", "5"])
    assert r.exit_code == 0 and probe(out).n_frames == 5


@pytest.mark.parametrize("case, expect", [
    ("short", "shorter than one 1 s window"),
    ("silent", "is silent"),
    ("missing", "audio file not found"),
    ("checkpoint", "no-such-checkpoint"),
])
def test_paint_bad_input_is_one_line(trained, tmp_path, case, expect):
    from tests.synthmedia import make_audio_file

    sr = 16000
    samples = np.zeros(sr * 2, np.float32) if case == "silent" else (0.5 * np.sin(np.arange(sr // 4) / 5)).astype(np.float32)
    if case == "checkpoint":
        samples = (0.5 * np.sin(np.arange(sr * 2) / 5)).astype(np.float32)
    wav = make_audio_file(tmp_path / "a.wav", samples, sr)
    args = ["paint", "-C", str(trained.root), "--audio", str(tmp_path / "nope.wav" if case == "missing" else wav)]
    if case == "checkpoint":
        args += ["--checkpoint", "no-such-checkpoint"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expect in errors[0], r.output


def test_corrupted_weights_and_unknown_encoder(trained, tmp_path):
    import shutil

    from avstudio.errors import ManifestError, ModelError
    from avstudio.mapper.checkpoint import load_checkpoint

    info, _ = final_metrics(trained)
    broken = tmp_path / "broken"
    shutil.copytree(info.path, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelError, match="corrupt"):
        load_checkpoint(broken)
    ws = Workspace(trained.root)
    with pytest.raises((ManifestError, ModelError)):
        ws.manifest.set("encoders.audio", "wav2vec:foo")
        from avstudio.stages.embed import make_encoders

        make_encoders(Workspace(trained.root).manifest)


def test_two_hidden_sizes_give_two_checkpoints_and_a_comparison(trained, tmp_path):
    from avstudio.mapper.checkpoint import list_checkpoints

    ws = Workspace(trained.root)
    ws.manifest.set("encoders.audio", "builtin")
    ws.manifest.set("train.hidden", 64)
    result, _ = run_all(Workspace(trained.root), "train")
    assert result.ran == ["train"]
    infos = list_checkpoints(ws.layout.checkpoints)
    assert len(infos) == 2
    out = tmp_path / "cmp.png"
    r = CliRunner().invoke(cli, ["compare", infos[0].name, infos[1].name, "-C", str(ws.root), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "hidden" in r.output and "ssim" in r.output
    import cv2

    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[0] > 200 and sheet.shape[1] > 4 * 100
