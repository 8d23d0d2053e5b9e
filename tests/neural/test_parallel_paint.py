"""Painting in parallel on the tiny SD 1.5: batches of segments, torchrun workers, the few-step LoRA mode.

The frames must not depend on how they were computed. In float64 on a CPU that holds to the bit; in
float32 a batched convolution rounds differently from a single one (about 1e-6), so there the check is
a tolerance."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from avstudio.errors import ModelError, StageError
from avstudio.render.base import FramePlan
from avstudio.render.resume import ChunkSpool
from avstudio.render.segments import add_keyframes, split

from .tiny_models import CLIP_PROJECTION_DIM, save_foreign_lora, save_tiny_lora

D = CLIP_PROJECTION_DIM
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def settings(sd15, adapter, **kw):
    out = dict(model_ref=str(sd15), ip_adapter=str(adapter), steps=3, width=32, height=32, device="cpu", seed=7,
               dtype="float64", image_embed_dim=D, cut_strength=0.9)
    out.update(kw)
    return out


def renderer(sd15, adapter, **kw):
    from avstudio.render.sd15 import SD15Renderer

    return SD15Renderer(**settings(sd15, adapter, **kw))


def video_plans(n: int, *, seed: int = 0, max_segment: int = 6) -> list[FramePlan]:
    """Plans with a few cuts, strengths in three bands (so batches group), both polarities."""
    rng = np.random.default_rng(seed)
    cuts = {0, 9, 10, 23}
    plans = [FramePlan(rng.standard_normal(D).astype(np.float32), cut=i in cuts,
                       strength=float(rng.choice([0.5, 0.7, 1.0])), polarity=1 if (i // 10) % 2 else -1)
             for i in range(n)]
    return add_keyframes(plans, max_segment)


@pytest.fixture(scope="module")
def reference(tiny_sd15, tiny_ip_adapter):
    """30 frames painted one chain after another, one frame per call (float64)."""
    plans = video_plans(30)
    return plans, renderer(tiny_sd15, tiny_ip_adapter).render(plans, None, start=0)


def test_a_batch_equals_single_calls(tiny_sd15, tiny_ip_adapter):
    rng = np.random.default_rng(3)
    items = [(FramePlan(rng.standard_normal(D).astype(np.float32), cut=False, strength=0.7, polarity=1),
              rng.integers(0, 256, (32, 32, 3)).astype(np.uint8), index) for index in (5, 17, 40, 41)]
    for dtype in ("float64", "float32"):
        single = renderer(tiny_sd15, tiny_ip_adapter, dtype=dtype)
        batched = renderer(tiny_sd15, tiny_ip_adapter, dtype=dtype, batch=4)
        one_by_one = np.stack([single.render_many([item])[0] for item in items])
        together = np.stack(batched.render_many(items))
        assert len({batched.batch_key(p, True) for p, _, _ in items}) == 1
        if dtype == "float64":
            np.testing.assert_array_equal(together, one_by_one)
        else:
            diff = np.abs(together.astype(int) - one_by_one.astype(int))
            assert diff.max() <= 2 and diff.mean() < 0.05
        # Each item got its own embedding: diffusers' repeat (issue #9813) would give item 0's to all.
        assert len({frame.tobytes() for frame in together}) == 4


def test_batched_segments_paint_the_frames_of_one_chain(tmp_path, tiny_sd15, tiny_ip_adapter, reference):
    from avstudio.render.painter import paint

    plans, frames = reference
    assert max(b - a for a, b in split(plans)) <= 6 and len(split(plans)) >= 6
    spool = ChunkSpool(tmp_path / "resume", "c" * 24, frame_shape=(32, 32, 3))
    batched = renderer(tiny_sd15, tiny_ip_adapter, batch=4)
    calls = []
    original = batched._paint_batch
    batched._paint_batch = lambda items, key: calls.append(len(items)) or original(items, key)
    paint(plans, batched, chunk=4, spool=spool, batch=4)
    np.testing.assert_array_equal(np.concatenate(list(spool.read(30))), frames)
    assert max(calls) == 4 and len(calls) < 30  # cuts of four segments went in one call


def run_workers(spool, plans, sd15, adapter, **kw):
    from avstudio.render.workers import paint_on_devices

    return paint_on_devices(plans, spool, settings=settings(sd15, adapter), devices=["cpu", "cpu"], batch=4,
                            chunk=2, poll=0.1, **kw)


def test_two_workers_paint_the_frames_of_one_and_survive_a_killed_worker(tmp_path, tiny_sd15, tiny_ip_adapter,
                                                                          reference):
    plans, frames = reference
    spool = ChunkSpool(tmp_path / "resume", "d" * 24, frame_shape=(32, 32, 3))
    logs, errors = [], []

    def first_run():
        try:
            run_workers(spool, plans, tiny_sd15, tiny_ip_adapter, log=logs.append)
        except StageError as exc:
            errors.append(exc)

    thread = threading.Thread(target=first_run)
    thread.start()
    pid_file, deadline = spool.dir / "worker-1.pid", time.time() + 120
    while time.time() < deadline and not (pid_file.exists() and list((spool.dir / "worker-1").glob("chunk-*"))):
        time.sleep(0.05)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # worker 1 dies mid-run
    thread.join(timeout=120)
    assert errors and errors[0].message.startswith("a paint worker failed (torchrun exit 1)")
    kept = spool.painted()
    assert 0 < kept < 30 and "frames painted so far are kept: run again to resume" in errors[0].hint

    seen = []
    resumed = run_workers(spool, plans, tiny_sd15, tiny_ip_adapter, log=logs.append,
                          progress=lambda d, t: seen.append((d, t)))
    assert resumed == kept and seen[-1] == (30, 30)
    assert {line.split("]")[0] for line in logs if " done: " in line} == {"[worker 0", "[worker 1"}
    np.testing.assert_array_equal(np.concatenate(list(spool.read(30))), frames)
    assert {p.parent.name for p in spool.dir.glob("worker-*/chunk-*.npy")} == {"worker-0", "worker-1"}


def test_devices_are_checked_before_anything_starts():
    from avstudio.models.launch import resolve_devices

    assert resolve_devices("") == [] and resolve_devices(["cpu", "cpu"]) == ["cpu", "cpu"]
    with pytest.raises(ModelError, match=r"render.devices mixes cpu and cuda devices \(cpu, cuda:0\)"):
        resolve_devices(["cpu", "cuda:0"])
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match=r'render.devices = "all" but this machine has no CUDA device'):
            resolve_devices("all")
        with pytest.raises(ModelError, match="cuda:7"):
            resolve_devices(["cuda:7"])


def test_a_lora_with_lcm_and_tcd_paints_in_few_steps(tmp_path, tiny_sd15, tiny_ip_adapter):
    lora = save_tiny_lora(tmp_path / "lcm-lora")
    plans = video_plans(4)
    plain = renderer(tiny_sd15, tiny_ip_adapter, scheduler="lcm", steps=4, guidance=1.0).render(plans, None, start=0)
    for scheduler in ("lcm", "tcd"):
        fast = renderer(tiny_sd15, tiny_ip_adapter, scheduler=scheduler, steps=4, guidance=1.0, lora=str(lora))
        assert fast.config["lora"] == str(lora) and fast.lora_file.name == "pytorch_lora_weights.safetensors"
        frames = fast.render(plans, None, start=0)
        assert frames.shape == (4, 32, 32, 3) and frames.std() > 0
        if scheduler == "lcm":
            assert np.abs(frames.astype(int) - plain.astype(int)).mean() > 1  # the LoRA is fused in
        # the IP-Adapter still steers the picture
        other = [FramePlan(-p.embedding, p.cut, p.strength, p.polarity) for p in plans]
        assert not np.array_equal(fast.render(other, None, start=0), frames)


def test_foreign_and_pickled_loras_are_refused_before_loading(tmp_path, tiny_sd15, tiny_ip_adapter):
    sdxl = save_foreign_lora(tmp_path / "sdxl_lora.safetensors", cross_attention_dim=2048)
    with pytest.raises(ModelError) as err:
        renderer(tiny_sd15, tiny_ip_adapter, lora=str(sdxl))
    assert err.value.message == "LoRA sdxl_lora.safetensors is for SDXL, not for render.model (32)"
    pickled = tmp_path / "lcm.bin"
    pickled.write_bytes(b"not opened")
    with pytest.raises(ModelError, match=r"LoRA lcm.bin is not a .safetensors file \(pickled weights can run code"):
        renderer(tiny_sd15, tiny_ip_adapter, lora=str(pickled))
    folder = tmp_path / "only_bin"
    folder.mkdir()
    (folder / "pytorch_lora_weights.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="is not a .safetensors file"):
        renderer(tiny_sd15, tiny_ip_adapter, lora=str(folder))


def test_two_local_nodes_join_one_paint_job(tmp_path, tiny_sd15, tiny_ip_adapter, reference, monkeypatch):
    """torchrun's c10d rendezvous spans machines; here two "nodes" on one machine share the spool folder."""
    import socket
    import subprocess
    import sys

    plans, frames = reference
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rendezvous = f"--nnodes=2 --rdzv-backend=c10d --rdzv-endpoint=127.0.0.1:{port} --rdzv-id=paint-test"
    spool = ChunkSpool(tmp_path / "resume", "e" * 24, frame_shape=(32, 32, 3))
    # the other node: the recipe's torchrun line, pointed at the job folder on the shared disk
    other = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *rendezvous.split(), "--nproc-per-node=1",
                              "-m", "avstudio.render.workers", str(spool.dir)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        monkeypatch.setenv("AVSTUDIO_TORCHRUN", rendezvous)
        from avstudio.render.workers import paint_on_devices

        paint_on_devices(plans, spool, settings=settings(tiny_sd15, tiny_ip_adapter), devices=["cpu"], batch=2,
                         chunk=3, poll=0.1)
        assert other.wait(timeout=120) == 0
    finally:
        other.kill()
    np.testing.assert_array_equal(np.concatenate(list(spool.read(30))), frames)
    written = {p.parent.name for p in spool.dir.glob("worker-*/chunk-*.npy")}
    assert written == {"worker-0", "worker-1"}  # both nodes painted
