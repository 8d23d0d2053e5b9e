"""The blind painter on built-in backends, end to end, on a synthetic shadow-play clip.

The clip: 32 s at 10 fps, 48x36, in six musical sections (each its own chord,
pulsing at 2 Hz). The scene flips between dark (a white square on black) and
light (a black square on white) at every section change, and the square moves
at a speed that follows the loudness. Where the square *is* cannot be heard;
the polarity, the motion and the crisp black/white style can.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from avstudio.cli import cli
from avstudio.workspace.workspace import Workspace
from tests.conftest import run_all

FPS, SECONDS, SR, W, H = 10, 32.0, 22050, 48, 36
CHANGES = (5.0, 11.0, 16.0, 22.0, 28.0)
CHORDS = ((220, 277), (330, 415), (196, 247), (262, 330), (175, 220), (294, 370))


def section(t: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(CHANGES), t, side="right")


def loudness(t: np.ndarray) -> np.ndarray:
    return 0.35 + 0.3 * (np.sin(2 * np.pi * 2 * t) > 0) + 0.25 * np.sin(2 * np.pi * t / 7.0)


def shadow_play(n: int, *, speeds: np.ndarray, polarity: np.ndarray) -> np.ndarray:
    frames = np.zeros((n, H, W, 3), np.uint8)
    x = np.cumsum(speeds) % (W - 10)
    for k in range(n):
        bg, fg = (255, 0) if polarity[k] > 0 else (0, 255)
        frames[k] = bg
        y = 8 + int(6 * np.sin(k / 9.0))
        frames[k, y:y + 12, int(x[k]):int(x[k]) + 10] = fg
    return frames


def shadow_song(seconds: float, fps: float, sr: int, *, overtone: float) -> tuple[np.ndarray, np.ndarray]:
    """The shadow play and its song: a chord per section (plus ``overtone`` of the root's third harmonic),
    louder where the figure runs faster, dark and light sections alternating.

    Returns
    -------
    frames : np.ndarray [shape=(int(seconds * fps), H, W, 3), uint8]
    audio : np.ndarray [shape=(int(seconds * sr),), float32]
    """
    t = np.arange(int(seconds * sr)) / sr
    sec = section(t)
    audio = np.zeros_like(t)
    for s, (f1, f2) in enumerate(CHORDS):
        m = sec == s
        audio[m] = (np.sin(2 * np.pi * f1 * t[m]) + 0.6 * np.sin(2 * np.pi * f2 * t[m])
                    + overtone * np.sin(2 * np.pi * 3 * f1 * t[m]))
    n = int(seconds * fps)
    tf = (np.arange(n) + 0.5) / fps
    frames = shadow_play(n, speeds=1.0 + 4.0 * loudness(tf), polarity=np.where(section(tf) % 2, 1, -1))
    return frames, (0.3 * audio * loudness(t)).astype(np.float32)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from tests.synthmedia import make_video

    frames, audio = shadow_song(SECONDS, FPS, SR, overtone=0.3)
    stereo = np.stack([audio, 0.5 * audio], axis=1)
    return make_video(tmp_path_factory.mktemp("sp") / "shadow.mp4", frames, fps=FPS, audio=stereo, audio_sr=SR)


def _make(root, video, **params):
    from avstudio.workspace.create import create_workspace

    create_workspace(root, template="bad-apple", video=video)
    ws = Workspace(root)
    for key, value in {"analysis.fps": "source", "train.epochs": 60, "train.hidden": 64,
                       "encoders.components": 8, **params}.items():
        ws.manifest.set(key, value)
    return Workspace(root)


@pytest.fixture(scope="module")
def trained(clip, tmp_path_factory):
    ws = _make(tmp_path_factory.mktemp("ba") / "ws", clip)
    result, events = run_all(ws)
    assert result.exit_code == 0, [e for e in events if e.kind == "stage_failed"]
    return ws


def report(ws):
    with ws.store.read("evaluate") as g:
        return json.loads(g.attrs["report"])


def test_split_is_train_validation_test_with_window_gaps(trained):
    from avstudio.painter.bundle import Painter

    painter = Painter.pick(trained.layout.checkpoints, "best")
    split = painter.split
    assert (split.n, split.gap) == (320, 10)  # window 1 s at 10 fps
    assert split.test == (272, 320) and split.val == (214, 262) and split.train == (0, 204)
    assert report(trained)["block"] == [272, 320]


def test_evaluate_beats_trivial_baselines_on_what_sound_can_tell(trained):
    subsets = report(trained)["subsets"]
    music = subsets["music"]
    assert music["n_frames"] == 48 and subsets["silent"]["n_frames"] == 0
    rows = music["rows"]
    p = rows["painter"]
    assert p["polarity_bacc"] >= 0.85
    assert p["brightness_r"] >= 0.6
    assert abs(p["crispness"] - p["truth_crispness"]) <= 0.1
    for trivial in ("mean_frame", "majority_frame", "all_black", "all_white"):
        assert p["mae"] < rows[trivial]["mae"], trivial
    assert p["realism_kid"] < 0.5 * min(rows["mean_frame"]["realism_kid"], rows["majority_frame"]["realism_kid"])
    assert 0.5 <= p["change_ratio"] <= 2.0
    # the all-black painter loses where it should, the oracle knows polarity
    assert rows["all_black"]["polarity_bacc"] == 0.5 and rows["polarity_oracle"]["polarity_bacc"] == 1.0
    assert "polarity_bacc" in music["best"] and "painter" in music["best"]["change_ratio"]


def test_outputs_checkpoint_and_exactly_one_best(trained):
    from avstudio.mapper.checkpoint import list_checkpoints
    from avstudio.media.probe import probe

    (info,) = list_checkpoints(trained.layout.checkpoints)
    assert {p.name for p in info.path.iterdir()} >= {"config.json", "model.safetensors", "extras.safetensors",
                                                     "metrics.json", "evaluation.json"}
    config = json.loads((info.path / "config.json").read_text())
    assert config["format"] == 2 and config["best"] is True and config["polarity"]["mode"] in ("novelty", "classifier")
    assert info.metrics["painter.polarity_bacc"] >= 0.85  # evaluation.json feeds checkpoints/compare/TUI
    with trained.store.read("paint") as pg:
        assert pg["frames"].shape == (320, H, W, 3) and pg.attrs["checkpoint"] == info.name
        assert pg.attrs["polarity_switches"] >= 3
    video = probe(trained.layout.outputs / "painted.mp4")
    assert video.n_frames == 320 and abs(video.duration - SECONDS) < 0.05 and video.has_audio
    assert (trained.layout.outputs / "evaluation.png").is_file()
    r = CliRunner().invoke(cli, ["checkpoints", "-C", str(trained.root)])
    assert r.exit_code == 0 and "polarity_oracle" in r.output and "(paint)" in r.output, r.output


def test_render_params_never_retrain(trained):
    ws = Workspace(trained.root)
    ws.manifest.set("render.crispness", 0.9)
    stale = {s.name for s in Workspace(trained.root).status() if s.state != "fresh"}
    assert stale == {"paint", "evaluate", "assemble"}
    ws.manifest.set("render.crispness", 0.5)
    assert all(s.state == "fresh" for s in Workspace(trained.root).status())


def test_paint_audio_keeps_stereo_and_switches_scenes(trained, tmp_path):
    import av

    from avstudio.media.probe import probe
    from tests.synthmedia import make_audio_file

    t = np.arange(int(12 * 16000)) / 16000
    sec = (t > 6).astype(int)
    mono = np.where(sec, np.sin(2 * np.pi * 330 * t), np.sin(2 * np.pi * 196 * t) + 0.5 * np.sin(2 * np.pi * 587 * t))
    mono = (0.3 * mono * loudness(t)).astype(np.float32)
    wav = make_audio_file(tmp_path / "song.wav", np.stack([mono, 0.2 * mono], axis=1), 16000)
    out = tmp_path / "song.mp4"
    r = CliRunner().invoke(cli, ["paint", "-C", str(trained.root), "--audio", str(wav), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "120 frames" in r.output and "2-channel audio" in r.output
    video = probe(out)
    assert video.n_frames == 120 and abs(video.duration - 12.0) < 0.05
    with av.open(str(out)) as c:
        assert c.streams.audio[0].channels == 2


def test_paint_audio_checks_out_before_painting(trained, tmp_path):
    from tests.synthmedia import make_audio_file

    wav = make_audio_file(tmp_path / "a.wav", (0.3 * np.sin(np.arange(32000) / 5)).astype(np.float32), 16000)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = CliRunner().invoke(cli, ["paint", "-C", str(trained.root), "--audio", str(wav), "--out", str(blocker / "o.mp4")])
    assert r.exit_code == 1 and "painting" not in r.output
    assert [line for line in r.output.splitlines() if line.startswith("error:")], r.output


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


def test_old_bundle_format_and_corrupted_weights_are_one_line(trained, tmp_path):
    import shutil

    from avstudio.errors import ModelError
    from avstudio.painter.bundle import Painter

    (info,) = [p for p in trained.layout.checkpoints.iterdir() if not p.name.startswith(".")][:1]
    old = tmp_path / "old"
    shutil.copytree(info, old)
    config = json.loads((old / "config.json").read_text())
    config["format"] = 1
    (old / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="format 1, this avstudio reads format 2") as exc:
        Painter.load(old)
    assert "retrain" in exc.value.hint
    broken = tmp_path / "broken"
    shutil.copytree(info, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelError, match="corrupt"):
        Painter.load(broken)


def test_a_second_training_marks_the_better_one_best_and_paint_uses_it(trained, tmp_path):
    from avstudio.mapper.checkpoint import list_checkpoints

    ws = Workspace(trained.root)
    ws.manifest.set("train.hidden", 8)
    ws.manifest.set("train.epochs", 3)
    result, _ = run_all(Workspace(trained.root))
    assert result.exit_code == 0 and "train" in result.ran and "paint" in result.ran
    infos = list_checkpoints(ws.layout.checkpoints)
    assert len(infos) == 2 and sum(i.best for i in infos) == 1
    best = min(infos, key=lambda i: i.config["selection_loss"])
    assert best.best
    with Workspace(trained.root).store.read("paint") as pg:
        assert pg.attrs["checkpoint"] == best.name
    out = tmp_path / "cmp.png"
    r = CliRunner().invoke(cli, ["compare", infos[0].name, infos[1].name, "-C", str(ws.root), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "hidden" in r.output and "polarity_bacc" in r.output
    import cv2

    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[0] > 200 and sheet.shape[1] > 4 * 100
    from avstudio.mapper.checkpoint import pick_checkpoint

    assert all(len(i.name) == 6 for i in infos)  # short ids; any unique part picks one
    assert pick_checkpoint(ws.layout.checkpoints, infos[0].name[1:5]).name == infos[0].name
    r = CliRunner().invoke(cli, ["paint", "-C", str(ws.root), "--audio", "x.wav", "--checkpoint", "nope"])
    assert r.exit_code == 1 and "no checkpoint named 'nope'" in r.output and infos[1].name in r.output


def test_too_few_frames_say_how_many_are_needed(tmp_path):
    from tests.synthmedia import make_video

    n = 30
    frames = shadow_play(n, speeds=np.full(n, 2.0), polarity=np.where(np.arange(n) < 15, 1, -1))
    t = np.arange(int(3.0 * SR)) / SR
    video = make_video(tmp_path / "short.mp4", frames, fps=FPS, audio=(0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32),
                       audio_sr=SR)
    ws = _make(tmp_path / "ws", video)
    result, events = run_all(ws)
    failed = [e for e in events if e.kind == "stage_failed"]
    assert result.exit_code != 0 and failed
    assert "too few frames to split into train, validation and test: 30 frames" in failed[0].message
    assert "needed" in failed[0].message


def test_one_kind_of_scene_turns_the_polarity_head_off_once(tmp_path):
    from tests.synthmedia import make_video

    n = 200
    frames = shadow_play(n, speeds=np.full(n, 2.0), polarity=np.full(n, -1))
    t = np.arange(int(20.0 * SR)) / SR
    video = make_video(tmp_path / "dark.mp4", frames, fps=FPS,
                       audio=(0.3 * np.sin(2 * np.pi * 220 * t) * loudness(t)).astype(np.float32), audio_sr=SR)
    ws = _make(tmp_path / "ws", video, **{"train.epochs": 3})
    result, events = run_all(ws, "train")
    assert result.exit_code == 0
    said = [e.message for e in events if e.kind == "log" and "polarity head off" in e.message]
    assert len(said) == 1 and "0% light" in said[0]


def test_silence_in_the_test_block_is_scored_as_silent(tmp_path):
    from tests.synthmedia import make_video

    n, seconds = 200, 20.0
    tf = (np.arange(n) + 0.5) / FPS
    frames = shadow_play(n, speeds=1.0 + 4.0 * loudness(tf), polarity=np.where(tf > 8.0, 1, -1))
    t = np.arange(int(seconds * SR)) / SR
    audio = (0.3 * np.sin(2 * np.pi * np.where(t > 8.0, 330, 220) * t) * loudness(t) * (t < 15.0)).astype(np.float32)
    ws = _make(tmp_path / "ws", make_video(tmp_path / "quiet.mp4", frames, fps=FPS, audio=audio, audio_sr=SR),
               **{"train.epochs": 3})
    result, events = run_all(ws)
    assert result.exit_code == 0, [e for e in events if e.kind == "stage_failed"]
    said = [e.message for e in events if e.kind == "log" and e.stage == "evaluate"]
    assert "the test block has no audible music: scores are on silent frames only" in said
    subsets = report(ws)["subsets"]
    assert subsets["music"] == {"n_frames": 0, "rows": {}, "best": {}}
    assert subsets["silent"]["n_frames"] == 30 and subsets["silent"]["rows"]["painter"]["crispness"] > 0.9
