"""The whole bad-apple template through the CLI on the neural backends (tiny random CLAP, CLIP,
SD 1.5 and IP-Adapter), on a 2.5 s synthetic clip analysed at 8 fps (20 frames), painted at 32x32.

One trained workspace is shared by the module; tests that edit its manifest put it back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from avstudio.cli import cli
from avstudio.workspace.workspace import Workspace

from .tiny_models import CLAP_PROJECTION_DIM, CLIP_PROJECTION_DIM, save_tiny_clip_vision, save_tiny_ip_adapter

REPO = Path(__file__).resolve().parents[2]
N_FRAMES = 20  # 2.5 s at analysis.fps = 8
SIZE = 32
CHUNK = 4
STAGES = ["extract", "features", "embed", "train", "paint", "evaluate", "assemble"]

# diffusers' schedulers call np.array(tensor, copy=False) internally (numpy 2 deprecation, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


# --------------------------------------------------------------------------- helpers


def cli_run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"AVSTUDIO_DEBUG": ""}, catch_exceptions=False)


def json_events(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def logs(events: list[dict], stage: str) -> list[str]:
    return [e["message"] for e in events if e["event"] == "log" and e["stage"] == stage]


def finished(events: list[dict]) -> list[str]:
    return [e["stage"] for e in events if e["event"] == "stage_finished"]


def status(root: Path) -> dict[str, dict]:
    r = cli_run("status", "-C", root, "--json")
    assert r.exit_code == 0, r.output
    return {s["name"]: s for s in json.loads(r.output)["stages"]}


def states(root: Path) -> dict[str, str]:
    return {name: s["state"] for name, s in status(root).items()}


def shown(value: str) -> str:
    """A value as ``status`` quotes it in a reason (JSON, cut to 40 characters)."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def error_lines(output: str) -> list[str]:
    """A stage's failure line (``[stage] failed: ...``) or the CLI's ``error: ...`` line."""
    return [line for line in output.splitlines() if line.startswith("error:") or "] failed: " in line]


def paint_frames(root: Path) -> np.ndarray:
    with Workspace(root).store.read("paint") as g:
        return g["frames"][:]


def cut_frames(root: Path) -> list[int]:
    """The frames the temporal plan of the chosen checkpoint paints as cuts."""
    from avstudio.stages.paint import load_painter

    ws = Workspace(root)
    painter, data = load_painter(ws)
    with ws.store.read("features") as g:
        onset = g["audio/onset"][:]
    plans = painter.plan(data["audio"]["emb"], onset, temporal=ws.manifest.params["temporal"],
                         backend=ws.manifest.get("render.backend"))
    return [i for i, plan in enumerate(plans) if plan.cut]


def embeddings(root: Path, kind: str) -> dict[str, np.ndarray]:
    with Workspace(root).store.read("embed") as g:
        return {key: g[kind][key]["embeddings"][:] for key in g[kind]}


def neural_manifest(models: SimpleNamespace, image: Path | None = None) -> dict[str, object]:
    return {
        "analysis.fps": 8.0, "analysis.size": SIZE,
        "encoders.audio": f"clap:{models.clap}", "encoders.image": f"clip:{image or models.clip}",
        "encoders.device": "cpu", "encoders.context_seconds": 1.0,
        "train.epochs": 5, "train.hidden": 32, "train.batch_size": 8, "train.gap_frames": 0,
        "render.backend": "sd15", "render.model": str(models.sd15), "render.ip_adapter": str(models.ip_adapter),
        "render.width": SIZE, "render.height": SIZE, "render.steps": 2, "render.chunk": CHUNK,
        "render.guidance": 1.0, "render.device": "cpu", "render.seed": 3,
    }


def spooled(spool: Path) -> int:
    """Frames in a paint spool's chunk files."""
    return sum(len(np.load(p, mmap_mode="r")) for p in spool.glob("*/**/chunk-*.npy"))


def make_workspace(root: Path, video: Path, settings: dict[str, object]) -> Path:
    r = cli_run("init", root, "--template", "bad-apple", "--video", video)
    assert r.exit_code == 0, r.output
    manifest = Workspace(root).manifest
    for key, value in settings.items():
        manifest.set(key, value)
    return root


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def models(tiny_clap, tiny_clip, tiny_sd15, tiny_ip_adapter) -> SimpleNamespace:
    return SimpleNamespace(clap=tiny_clap, clip=tiny_clip, sd15=tiny_sd15, ip_adapter=tiny_ip_adapter)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """2.5 s, 24 fps, 64x48: a textured square sliding right; 330 Hz then 880 Hz, clicks at 0.8 s and 1.8 s.

    The clicks are the only onsets, so the painter cuts at frames 0, 6 and 14 (8 fps) and
    continues from the previous frame everywhere else, chunk starts (4, 8, 12, 16) included.
    """
    from tests.synthmedia import click_track, make_video, moving_square, tone

    audio = np.concatenate([tone(1.25, 44100, 330.0, 0.2), tone(1.25, 44100, 880.0, 0.2)])
    audio += click_track(2.5, 44100, [0.8, 1.8])
    return make_video(tmp_path_factory.mktemp("media") / "square.mp4", moving_square(60, 48, 64, step_px=1, size=24),
                      fps=24, audio=audio, audio_sr=44100)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, models, video) -> SimpleNamespace:
    """The whole template run once, uninterrupted, by ``avstudio run --json``."""
    root = make_workspace(tmp_path_factory.mktemp("neural") / "ws", video, neural_manifest(models))
    r = cli_run("run", "-C", root, "--json")
    assert r.exit_code == 0, r.output
    (checkpoint,) = [p.name for p in (root / "checkpoints").iterdir() if not p.name.startswith(".")]
    return SimpleNamespace(root=root, models=models, events=json_events(r.output), frames=paint_frames(root),
                           checkpoint=checkpoint)


@pytest.fixture(scope="module")
def audio_switch(trained, models) -> SimpleNamespace:
    """encoders.audio: CLAP -> built-in (run) -> CLAP again (run), with status taken after each edit."""
    manifest = Workspace(trained.root).manifest
    manifest.set("encoders.audio", "builtin")
    to_builtin = status(trained.root)
    r = cli_run("run", "-C", trained.root, "--json")
    assert r.exit_code == 0, r.output
    builtin_events, builtin_audio = json_events(r.output), embeddings(trained.root, "audio")
    builtin_frames = paint_frames(trained.root)
    manifest.set("encoders.audio", f"clap:{models.clap}")
    to_clap = status(trained.root)
    r = cli_run("run", "-C", trained.root, "--json")
    assert r.exit_code == 0, r.output
    return SimpleNamespace(to_builtin=to_builtin, builtin_events=builtin_events, builtin_audio=builtin_audio,
                           builtin_frames=builtin_frames, to_clap=to_clap, clap_events=json_events(r.output),
                           clap_audio=embeddings(trained.root, "audio"), clap_frames=paint_frames(trained.root))


# --------------------------------------------------------------------------- 1. the whole run


def test_whole_template_runs_on_neural_backends(trained, models):
    from avstudio.media.probe import probe

    assert finished(trained.events) == STAGES
    clap_key, clip_key = f"clap:{models.clap}".replace("/", "|"), f"clip:{models.clip}".replace("/", "|")
    ws = Workspace(trained.root)
    with ws.store.read("embed") as g:
        audio, image = g["audio"][clap_key], g["image"][clip_key]
        assert audio["embeddings"].shape == (N_FRAMES, CLAP_PROJECTION_DIM) == (N_FRAMES, audio.attrs["dim"])
        assert image["embeddings"].shape == (N_FRAMES, CLIP_PROJECTION_DIM) == (N_FRAMES, image.attrs["dim"])
        clap = audio["embeddings"][:]
    # CLAP embeddings are unit vectors; frames of one tone are closer to each other than to the other tone's
    np.testing.assert_allclose(np.linalg.norm(clap, axis=1), 1.0, atol=1e-5)
    cos = clap @ clap.T
    assert min(cos[1, 3], cos[16, 18]) > cos[1:4, 16:19].max() + 0.05
    config = json.loads((trained.root / "checkpoints" / trained.checkpoint / "config.json").read_text())
    recorded = {kind: (e["name"], e["dim"]) for kind, e in config["encoders"].items()}
    assert recorded == {"audio": (f"clap:{models.clap}", 16), "image": (f"clip:{models.clip}", 16)}
    # evaluate paints the test block with the sd15 renderer, as paint does, and scores it
    assert "painting the test block: frames 17..19 (0.4 s) with sd15" in logs(trained.events, "evaluate")
    with ws.store.read("evaluate") as g:
        assert json.loads(g.attrs["report"])["subsets"]["music"]["n_frames"] == 3

    frames = trained.frames
    assert frames.shape == (N_FRAMES, SIZE, SIZE, 3) and frames.dtype == np.uint8
    assert frames.std() > 1.0 and not np.array_equal(frames[0], frames[-1])
    with ws.store.read("paint") as g:
        assert g.attrs["renderer"] == "sd15" and int(g.attrs["resumed_from"]) == 0 and int(g.attrs["cuts"]) == 3
    assert cut_frames(trained.root) == [0, 6, 14]

    info = probe(trained.root / "outputs" / "painted.mp4")
    assert (info.width, info.height, info.n_frames) == (SIZE, SIZE, N_FRAMES)
    assert info.fps == pytest.approx(8.0) and info.duration == pytest.approx(2.5, abs=0.05) and info.has_audio
    assert set(states(trained.root).values()) == {"fresh"}


# --------------------------------------------------------------------------- 2. dimension mismatch


def test_clip_adapter_dimension_mismatch_is_refused_before_embedding(tmp_path, models, video):
    clip24 = save_tiny_clip_vision(tmp_path / "clip24", projection_dim=24)
    root = make_workspace(tmp_path / "ws", video, neural_manifest(models, image=clip24))
    r = cli_run("run", "-C", root, "embed")
    assert r.exit_code == 1
    (line,) = error_lines(r.output)
    assert line == (f"[embed] failed: encoders.image = 'clip:{clip24}' gives 24-d image embeddings but the IP-Adapter "
                    "ip-adapter_sd15.safetensors (render.ip_adapter) expects 16-d (use the image encoder the adapter "
                    "was trained with (ip-adapter_sd15: encoders.image = 'clip:laion/CLIP-ViT-H-14-laion2B-s32B-b79K', "
                    "1024-d), or an adapter made for this encoder)")
    assert "Traceback" not in r.output
    assert not any(line.startswith("[embed] ") and "frames" in line for line in r.output.splitlines())
    assert not Workspace(root).store.has("embed") and not (root / "checkpoints").exists()
    embed = status(root)["embed"]
    assert embed["state"] == "failed" and "gives 24-d image embeddings" in embed["reasons"][0]


def test_preflight_checks_sizes_only_where_both_models_are_here(tmp_path, models, video):
    """Built-in codes (components + 1 dims) cannot feed the adapter; an adapter absent from this
    machine (embed here, paint on a GPU machine) is left for ``paint`` to report."""
    from avstudio.errors import ModelError
    from avstudio.render.painter import check_render_compatible

    root = make_workspace(tmp_path / "ws", video, {**neural_manifest(models), "encoders.image": "builtin",
                                                   "encoders.components": 8})
    manifest = Workspace(root).manifest
    with pytest.raises(ModelError, match=r"^encoders.image = 'builtin' gives 9-d image embeddings but the "
                                         r"IP-Adapter ip-adapter_sd15.safetensors \(render.ip_adapter\) expects 16-d$"):
        check_render_compatible(manifest)
    manifest.set("render.ip_adapter", str(tmp_path / "not-here"))
    assert check_render_compatible(manifest) is None
    manifest.set("render.ip_adapter", str(models.ip_adapter))
    manifest.set("render.backend", "builtin")
    assert check_render_compatible(manifest) is None


def test_adapter_of_another_size_is_refused_before_painting(tmp_path, trained):
    """A fresh mapper with an adapter swapped in: ``run`` and ``paint --audio`` stop before any frame or window."""
    from tests.synthmedia import make_audio_file, tone

    adapter24 = save_tiny_ip_adapter(tmp_path / "ipa24" / "ip-adapter_sd15.safetensors", image_embed_dim=24)
    new_audio = make_audio_file(tmp_path / "new.wav", tone(1.5, 22050, 500.0, 0.4), 22050)
    manifest = Workspace(trained.root).manifest
    manifest.set("render.ip_adapter", str(adapter24.parent))
    expected = ("image embeddings have 16 dims but IP-Adapter ip-adapter_sd15.safetensors expects 24 (use the image "
                "encoder the adapter was trained with (ip-adapter_sd15: encoders.image = "
                "'clip:laion/CLIP-ViT-H-14-laion2B-s32B-b79K', 1024 dims) and retrain the mapper)")
    try:
        r = cli_run("run", "-C", trained.root, "--json")
        assert r.exit_code == 1
        ran = json_events(r.output)
        (failed,) = [e for e in ran if e["event"] == "stage_failed"]
        assert (failed["stage"], failed["message"]) == ("paint", expected)
        assert not any(e["event"] == "progress" and e["stage"] == "paint" for e in ran)
        np.testing.assert_array_equal(paint_frames(trained.root), trained.frames)

        r = cli_run("paint", "-C", trained.root, "--audio", new_audio)
        assert r.exit_code == 1 and error_lines(r.output) == [f"error: {expected}"]
        assert "resampling" not in r.output and not (trained.root / "outputs" / "painted-new.mp4").exists()
    finally:
        manifest.set("render.ip_adapter", str(trained.models.ip_adapter))
    assert set(states(trained.root).values()) == {"fresh"}


def test_paint_new_audio_with_the_neural_checkpoint(tmp_path, trained):
    """``avstudio paint --audio``: a 22.05 kHz file goes through CLAP (48 kHz) and SD at the workspace's 8 fps."""
    from avstudio.media.probe import probe
    from tests.synthmedia import make_audio_file, tone

    new_audio = make_audio_file(tmp_path / "new.wav", tone(1.5, 22050, 500.0, 0.4), 22050)
    out = tmp_path / "out.mp4"
    r = cli_run("paint", "-C", trained.root, "--audio", new_audio, "--out", out)
    assert r.exit_code == 0, r.output
    assert "resampling 22050 Hz -> 48000 Hz for clap:" in r.output
    assert f"wrote {out} (12 frames, 1.500 s, " in r.output and f"with checkpoint {trained.checkpoint}" in r.output
    info = probe(out)
    assert (info.width, info.height, info.n_frames, info.has_audio) == (SIZE, SIZE, 12, True)
    assert not list((trained.root / ".avstudio" / "resume" / "paint-audio").glob("*/chunk-*.npy"))


# --------------------------------------------------------------------------- 3. what goes stale


def test_switching_the_audio_encoder_restales_exactly_its_dependents_and_reuses_embeddings(trained, audio_switch,
                                                                                           models):
    clap, clip = f"clap:{models.clap}", f"clip:{models.clip}"
    for st, old, new in ((audio_switch.to_builtin, clap, "builtin"), (audio_switch.to_clap, "builtin", clap)):
        assert {n: s["state"] for n, s in st.items()} == {
            "extract": "fresh", "features": "fresh", "embed": "stale", "train": "stale", "paint": "stale",
            "evaluate": "stale", "assemble": "stale"}
        assert st["embed"]["reasons"] == [f"params.encoders.audio changed ({shown(old)} -> {shown(new)})"]
        assert st["train"]["reasons"] == ["upstream embed changed"]
        assert st["assemble"]["reasons"] == ["upstream paint changed"]

    # to built-in: CLIP embeddings reused, the built-in audio ones computed, CLAP's kept in the store
    ran = audio_switch.builtin_events
    assert finished(ran) == ["embed", "train", "paint", "evaluate", "assemble"]
    assert f"reused cached image embeddings of {clip}" in logs(ran, "embed")
    assert not any("reused cached audio" in m for m in logs(ran, "embed"))
    clap_key = clap.replace("/", "|")
    assert sorted(audio_switch.builtin_audio) == sorted(["builtin-audio", clap_key])
    assert audio_switch.builtin_audio["builtin-audio"].shape[0] == N_FRAMES
    assert audio_switch.builtin_frames.shape == (N_FRAMES, SIZE, SIZE, 3)

    # back to CLAP: both embeddings reused (nothing encoded), same mapper, same painting as the first run
    ran = audio_switch.clap_events
    assert f"reused cached audio embeddings of {clap}" in logs(ran, "embed")
    assert f"reused cached image embeddings of {clip}" in logs(ran, "embed")
    assert not any(e["event"] == "progress" and e["stage"] == "embed" for e in ran)
    np.testing.assert_array_equal(audio_switch.clap_audio[clap_key], audio_switch.builtin_audio[clap_key])
    np.testing.assert_array_equal(audio_switch.clap_frames, trained.frames)
    assert not np.array_equal(audio_switch.builtin_frames, trained.frames)


@pytest.mark.parametrize(("key", "value", "stale"), [
    ("render.backend", "builtin", ["paint", "evaluate", "assemble"]),
    ("render.steps", 3, ["paint", "evaluate", "assemble"]),
    ("render.ip_adapter", "elsewhere", ["paint", "evaluate", "assemble"]),
    ("encoders.image", "builtin", ["embed", "train", "paint", "evaluate", "assemble"]),
])
def test_switching_encoders_or_renderer_restales_exactly_the_affected_stages(trained, key, value, stale):
    manifest = Workspace(trained.root).manifest
    before = manifest.get(key)
    assert set(states(trained.root).values()) == {"fresh"}
    manifest.set(key, value)
    try:
        st = status(trained.root)
        assert [n for n in STAGES if st[n]["state"] == "stale"] == stale
        assert [n for n in STAGES if st[n]["state"] == "fresh"] == [n for n in STAGES if n not in stale]
        assert st[stale[0]]["reasons"][0].startswith(f"params.{key} changed (")
    finally:
        manifest.set(key, before)
    assert set(states(trained.root).values()) == {"fresh"}


# --------------------------------------------------------------------------- 4. resume


def test_killed_and_cancelled_paint_resumes_to_the_uninterrupted_frames(tmp_path, models, video, trained):
    """SIGKILL the run after its first painted chunk, Ctrl-C (cancel) the next run after one more
    chunk, then finish: the frames equal the uninterrupted run's in another workspace."""
    from avstudio.cancel import CancelToken
    from avstudio.pipeline.events import Progress
    from avstudio.pipeline.runner import run

    root = make_workspace(tmp_path / "ws", video, neural_manifest(models))
    assert cli_run("run", "-C", root, "train").exit_code == 0
    spool = root / ".avstudio" / "resume" / "paint"

    # 1. a real process killed outright once a chunk is on disk
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "AVSTUDIO_DEBUG": ""}
    proc = subprocess.Popen([sys.executable, "-m", "avstudio", "run", "-C", str(root), "--json"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        killed_at = None
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "progress" and event["stage"] == "paint" and CHUNK <= event["done"] < event["total"]:
                proc.send_signal(signal.SIGKILL)
                killed_at = int(event["done"])
                break
            assert time.monotonic() < deadline
    finally:
        proc.kill()
        proc.wait()
    assert killed_at is not None and proc.returncode == -signal.SIGKILL
    assert not Workspace(root).store.has("paint")
    at = spooled(spool)
    assert CHUNK <= at <= killed_at  # chunks are spooled as they fill

    # 2. in process: resume, then cancel (as Ctrl-C does) once one more chunk is painted
    token, events = CancelToken(), []

    def on_event(event):
        events.append(event)
        if isinstance(event, Progress) and event.stage == "paint" and event.done >= killed_at + CHUNK:
            token.cancel()

    result = run(Workspace(root), on_event=on_event, cancel=token)
    assert result.interrupted and result.ran == []
    resumed = [e.message for e in events if getattr(e, "message", "").startswith("resuming")]
    assert resumed == [f"resuming: {at} of {N_FRAMES} frames are already painted"]
    start = spooled(spool)
    assert at < start < N_FRAMES
    assert status(root)["paint"]["state"] == "interrupted"

    # 3. the CLI finishes the job, each segment from its first missing frame
    r = cli_run("run", "-C", root, "--json")
    assert r.exit_code == 0, r.output
    ran = json_events(r.output)
    assert f"resuming: {start} of {N_FRAMES} frames are already painted" in logs(ran, "paint")
    assert finished(ran) == ["paint", "evaluate", "assemble"]
    assert cut_frames(root) == [0, 6, 14]
    np.testing.assert_array_equal(paint_frames(root), trained.frames)
    with Workspace(root).store.read("paint") as g:
        assert int(g.attrs["resumed_from"]) == start
    assert not list(spool.glob("*/chunk-*.npy"))  # the spool is dropped once the frames are in the store


def test_avstudio_run_paints_on_two_worker_processes_with_the_same_frames(trained):
    """render.devices starts torchrun workers from `avstudio run` itself; speed settings never restale."""
    manifest = Workspace(trained.root).manifest
    manifest.set("render.devices", ["cpu", "cpu"])
    try:
        assert status(trained.root)["paint"]["state"] == "fresh"
        r = cli_run("run", "-C", trained.root, "--force", "paint", "--json")
        assert r.exit_code == 0, r.output
        messages = logs(json_events(r.output), "paint")
        assert any(m.startswith("starting 2 paint workers (cpu, cpu) with torchrun") for m in messages)
        assert sum(m.startswith("[worker ") and " done: " in m for m in messages) == 2
        np.testing.assert_array_equal(paint_frames(trained.root), trained.frames)
    finally:
        manifest.set("render.devices", "")


def test_embeddings_on_two_worker_processes_match_one_device(trained):
    """encoders.devices shares CLIP frames and CLAP windows out to torchrun workers; nothing goes stale."""
    before = {kind: embeddings(trained.root, kind) for kind in ("audio", "image")}
    manifest = Workspace(trained.root).manifest
    manifest.set("encoders.devices", ["cpu", "cpu"])
    try:
        assert status(trained.root)["embed"]["state"] == "fresh"
        (trained.root / "store" / "embed.h5").unlink()  # no cached groups to reuse: compute both
        r = cli_run("run", "-C", trained.root, "embed", "--json")
        assert r.exit_code == 0, r.output
        messages = logs(json_events(r.output), "embed")
        assert sum(m.startswith("starting 2 embed workers (cpu, cpu) with torchrun") for m in messages) == 2
        for kind in ("audio", "image"):
            for key, value in embeddings(trained.root, kind).items():
                np.testing.assert_allclose(value, before[kind][key], atol=1e-5)
        assert not (trained.root / ".avstudio" / "tmp" / "embed-workers").exists()
        assert status(trained.root)["paint"]["state"] == "fresh"
    finally:
        manifest.set("encoders.devices", "")


# --------------------------------------------------------------------------- 5. checkpoint vs manifest


def test_checkpoint_of_other_encoders_is_refused_in_one_line(trained, audio_switch, models):
    manifest = Workspace(trained.root).manifest
    r = cli_run("checkpoints", "-C", trained.root, "--json")
    other = [c["name"] for c in json.loads(r.output) if c["config"]["encoders"]["audio"]["name"] == "builtin-audio"]
    assert len(other) == 1
    before = paint_frames(trained.root)
    manifest.set("paint.checkpoint", other[0])
    try:
        st = status(trained.root)
        assert [n for n in STAGES if st[n]["state"] != "fresh"] == ["paint", "evaluate", "assemble"]
        r = cli_run("run", "-C", trained.root)
        assert r.exit_code == 1
        (line,) = error_lines(r.output)
        dim = audio_switch.builtin_audio["builtin-audio"].shape[1]
        assert line == (f"[paint] failed: checkpoint {other[0]} was trained on audio encoder 'builtin-audio' ({dim}-d) "
                        f"but the manifest uses 'clap:{models.clap}' (16-d) (retrain with `avstudio run train`, "
                        "or set encoders.audio back to 'builtin')")
        assert "[assemble] skipped: upstream paint failed" in r.output
        np.testing.assert_array_equal(paint_frames(trained.root), before)  # the previous output is kept
    finally:
        manifest.set("paint.checkpoint", "best")
    assert set(states(trained.root).values()) == {"fresh"}


# --------------------------------------------------------------------------- 6. models


def test_models_lists_the_tiny_models_with_their_dims(trained, models):
    r = cli_run("models", "-C", trained.root, "--json")
    assert r.exit_code == 0, r.output
    entries = {e["role"]: e for e in json.loads(r.output)}
    assert list(entries) == ["encoders.audio", "encoders.image", "render.model", "render.ip_adapter"]
    assert all(e["found"] and e["bytes"] > 0 for e in entries.values())
    assert entries["encoders.audio"]["path"] == str(models.clap) and entries["encoders.audio"]["dim"] == 16
    assert entries["encoders.image"]["path"] == str(models.clip) and entries["encoders.image"]["dim"] == 16
    assert entries["render.model"]["path"] == str(models.sd15) and entries["render.model"]["dim"] is None
    assert entries["render.ip_adapter"]["path"] == str(models.ip_adapter / "ip-adapter_sd15.safetensors")
    assert entries["render.ip_adapter"]["dim"] == 16


def test_models_reports_a_missing_folder(tmp_path, models, video):
    missing = tmp_path / "no-such-clap"
    root = make_workspace(tmp_path / "ws", video, {**neural_manifest(models), "encoders.audio": f"clap:{missing}"})
    r = cli_run("models", "-C", root, "--json")
    entries = {e["role"]: e for e in json.loads(r.output)}
    audio = entries["encoders.audio"]
    assert audio["found"] is False and audio["path"] is None and str(missing) in audio["error"]
    assert audio["error"].startswith(f"encoders.audio folder not found: {missing}")
    assert entries["encoders.image"]["found"] and entries["render.ip_adapter"]["found"]
    r = cli_run("models", "-C", root)
    assert r.exit_code == 1 and f"MISSING  encoders.audio folder not found: {missing}" in r.output
