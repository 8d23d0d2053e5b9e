"""SD 1.5 + IP-Adapter renderer and IP-Adapter weight handling, on tiny random models (32x32, 2 steps)."""

from __future__ import annotations

import importlib.util
import pathlib
from pathlib import Path

import numpy as np
import pytest

from avstudio.cancel import CancelToken
from avstudio.errors import Cancelled, ModelError
from avstudio.render.base import FramePlan, Renderer

from .tiny_models import CLIP_PROJECTION_DIM, save_tiny_ip_adapter, tiny_ip_adapter_state

REPO = Path(__file__).resolve().parents[2]
D = CLIP_PROJECTION_DIM

# diffusers' schedulers call np.array(tensor, copy=False) internally (numpy 2 deprecation, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _renderer(sd15, adapter, **kw):
    from avstudio.render.sd15 import SD15Renderer

    options = dict(ip_adapter=str(adapter), steps=2, width=32, height=32, device="cpu", seed=7)
    options.update(kw)
    return SD15Renderer(str(sd15), **options)


@pytest.fixture(scope="module")
def renderer(tiny_sd15, tiny_ip_adapter):
    return _renderer(tiny_sd15, tiny_ip_adapter, image_embed_dim=D)


def _plans(n: int, *, seed: int = 0, cuts=(0,), strength: float = 0.6, polarity: int = -1) -> list[FramePlan]:
    rng = np.random.default_rng(seed)
    return [
        FramePlan(rng.standard_normal(D).astype(np.float32), cut=i in cuts, strength=strength, polarity=polarity)
        for i in range(n)
    ]


def test_attributes_and_config(renderer, tiny_sd15, tiny_ip_adapter):
    assert isinstance(renderer, Renderer)
    assert renderer.name == "sd15" and renderer.size == (32, 32)
    assert renderer.embed_dim == D
    assert renderer.config["scheduler"] == "dpmsolver++"
    assert renderer.config["dtype"] == "float32"
    assert renderer.config["model"] == str(tiny_sd15)
    assert not renderer.loaded  # construction loads nothing


def test_render_shape_dtype_and_determinism(renderer):
    plans = _plans(3)
    first = renderer.render(plans, None, start=0)
    assert renderer.loaded
    assert first.shape == (3, 32, 32, 3) and first.dtype == np.uint8
    assert first.std() > 0  # not a blank picture
    np.testing.assert_array_equal(renderer.render(plans, None, start=0), first)
    moved = renderer.render(plans, None, start=1)  # other seeds
    assert not np.array_equal(moved[0], first[0])


def test_resume_equals_uninterrupted(renderer):
    plans = _plans(4, cuts=(0,), strength=0.5)
    whole = renderer.render(plans, None, start=0)
    head = renderer.render(plans[:2], None, start=0)
    tail = renderer.render(plans[2:], head[-1], start=2)
    np.testing.assert_array_equal(np.concatenate([head, tail]), whole)


def test_cut_starts_from_the_polarity_image(renderer):
    """A cut frame equals a plain diffusers img2img call on a black start picture."""
    import torch
    from PIL import Image

    plan = _plans(1, polarity=-1)[0]
    previous = np.full((32, 32, 3), 200, np.uint8)
    frame = renderer.render([plan], previous, start=5)[0]
    pipe = renderer.load()
    negative_and_positive = torch.cat([torch.zeros(1, 1, D), torch.from_numpy(plan.embedding).reshape(1, 1, D)])
    expected = pipe(
        prompt="",
        image=Image.new("RGB", (32, 32), (0, 0, 0)),
        strength=renderer.cut_strength,
        num_inference_steps=renderer.schedule_length(renderer.cut_strength),
        guidance_scale=7.5,
        ip_adapter_image_embeds=[negative_and_positive],
        generator=torch.Generator().manual_seed(7 + 5),
        output_type="np",
    ).images[0]
    np.testing.assert_array_equal(frame, np.rint(expected * 255).astype(np.uint8))
    white = renderer.render([FramePlan(plan.embedding, True, 1.0, +1)], previous, start=5)[0]
    assert not np.array_equal(white, frame)
    # the previous frame is ignored on a cut
    np.testing.assert_array_equal(renderer.render([plan], None, start=5)[0], frame)


def test_continuation_starts_from_previous_frame(renderer):
    plan = _plans(1, cuts=(), strength=0.5)[0]
    dark = renderer.render([plan], np.zeros((32, 32, 3), np.uint8), start=3)[0]
    light = renderer.render([plan], np.full((32, 32, 3), 255, np.uint8), start=3)[0]
    assert not np.array_equal(dark, light)
    still = FramePlan(plan.embedding, cut=False, strength=0.0, polarity=1)
    previous = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
    np.testing.assert_array_equal(renderer.render([still], previous, start=0)[0], previous)


def test_embedding_steers_the_picture_through_the_adapter(renderer, tiny_sd15, tiny_ip_adapter):
    a, b = _plans(2, cuts=(0, 1), seed=3)
    frames = [renderer.render([p], None, start=0)[0] for p in (a, b)]
    assert np.abs(frames[0].astype(int) - frames[1]).mean() > 1.0
    muted = _renderer(tiny_sd15, tiny_ip_adapter, ip_adapter_scale=0.0)
    np.testing.assert_array_equal(muted.render([a], None, start=0), muted.render([b], None, start=0))


def test_ip_adapter_embeds_layout(renderer):
    embeds = renderer.ip_adapter_embeds(np.arange(D, dtype=np.float32))
    assert len(embeds) == 1 and tuple(embeds[0].shape) == (2, 1, D)
    assert float(embeds[0][0].abs().sum()) == 0.0  # zero negative first (pipeline chunks it off)
    assert embeds[0][1, 0].tolist() == list(range(D))
    no_cfg = _renderer_no_load(renderer, guidance=1.0)
    assert tuple(no_cfg.ip_adapter_embeds(np.zeros(D, np.float32))[0].shape) == (1, 1, D)


def _renderer_no_load(renderer, **kw):
    return _renderer(renderer.folder, renderer.adapter_file, **kw)


def test_schedule_length(renderer):
    r = _renderer_no_load(renderer, steps=15, min_steps=2)
    assert r.schedule_length(1.0) == 15
    assert r.schedule_length(0.5) == 15  # 7 steps run
    assert r.schedule_length(0.1) == 20  # int(15 * 0.1) = 1 < 2: refine to 20 nominal steps, 2 run
    assert r.schedule_length(0.0) is None
    assert r.schedule_length(1e-5) is None


def test_other_schedulers_paint(tiny_sd15, tiny_ip_adapter):
    plans = _plans(2, strength=0.5)
    for name in ("ddim", "euler_a"):
        r = _renderer(tiny_sd15, tiny_ip_adapter, scheduler=name)
        frames = r.render(plans, None, start=0)
        assert frames.shape == (2, 32, 32, 3)
        np.testing.assert_array_equal(r.render(plans, None, start=0), frames)
    with pytest.raises(ModelError, match="unknown render.scheduler 'lms'"):
        _renderer(tiny_sd15, tiny_ip_adapter, scheduler="lms")


def test_cancel_mid_steps(tiny_sd15, tiny_ip_adapter):
    token = CancelToken()
    r = _renderer(tiny_sd15, tiny_ip_adapter, steps=6, cut_strength=1.0, cancel=token)
    pipe = r.load()
    calls = []

    def cancel_after_first_step(module, args, output):
        calls.append(1)
        token.cancel()

    handle = pipe.unet.register_forward_hook(cancel_after_first_step)
    try:
        with pytest.raises(Cancelled):
            r.render(_plans(2), None, start=0)
    finally:
        handle.remove()
    assert len(calls) == 1  # the other 5 steps and the second frame never ran


def test_dim_mismatch_is_caught_before_loading(tiny_sd15, tiny_ip_adapter, monkeypatch):
    import diffusers

    def no_loading(*args, **kwargs):
        raise AssertionError("the pipeline must not be loaded")

    monkeypatch.setattr(diffusers.StableDiffusionImg2ImgPipeline, "from_pretrained", no_loading)
    with pytest.raises(ModelError) as info:
        _renderer(tiny_sd15, tiny_ip_adapter, image_embed_dim=1280)
    assert info.value.message == "image embeddings have 1280 dims but IP-Adapter ip-adapter_sd15.safetensors expects 16"
    assert "CLIP-ViT-H-14" in info.value.hint
    r = _renderer(tiny_sd15, tiny_ip_adapter)
    with pytest.raises(ModelError, match="image embeddings have 8 dims"):
        r.render([FramePlan(np.zeros(8, np.float32), True, 1.0, 1)], None, start=0)
    assert not r.loaded


def test_adapter_for_another_unet_is_refused(tiny_sd15, tmp_path):
    adapter = save_tiny_ip_adapter(tmp_path / "sdxl-like.safetensors", cross_attention_dim=48)
    with pytest.raises(ModelError, match="cross-attention size 48 but .* has 32"):
        _renderer(tiny_sd15, adapter)


def test_bad_settings_are_refused(tiny_sd15, tiny_ip_adapter):
    with pytest.raises(ModelError, match="not a multiple of 8"):
        _renderer(tiny_sd15, tiny_ip_adapter, width=30)
    with pytest.raises(ModelError, match="Stable Diffusion 1.5 folder not found"):
        _renderer(tiny_sd15.parent / "nope", tiny_ip_adapter)
    # a folder that lacks the VAE
    broken = tiny_sd15.parent / "sd15_broken"
    broken.mkdir(exist_ok=True)
    for name in ("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors"):
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_bytes((tiny_sd15 / name).read_bytes())
    with pytest.raises(ModelError, match="incomplete: missing vae/config.json"):
        _renderer(broken, tiny_ip_adapter)


# -- IP-Adapter files ---------------------------------------------------------------------
def test_adapter_dims_come_from_the_header_only(tmp_path):
    from avstudio.render.ip_adapter import ip_adapter_cross_attention_dim, ip_adapter_embed_dim

    full = save_tiny_ip_adapter(tmp_path / "a.safetensors", image_embed_dim=24)
    header_size = int.from_bytes(full.read_bytes()[:8], "little")
    header_only = tmp_path / "header-only.safetensors"
    header_only.write_bytes(full.read_bytes()[: 8 + header_size])  # the tensor data is gone
    assert ip_adapter_embed_dim(header_only) == 24
    assert ip_adapter_cross_attention_dim(header_only) == 32


def test_safetensors_and_bin_load_to_the_same_nested_state(tmp_path):
    import torch

    from avstudio.render.ip_adapter import resolve_ip_adapter, ip_adapter_embed_dim, load_ip_adapter_state

    save_tiny_ip_adapter(tmp_path / "st" / "models" / "ip-adapter_sd15.safetensors")
    save_tiny_ip_adapter(tmp_path / "bin" / "ip-adapter_sd15.bin", fmt="bin")
    assert resolve_ip_adapter(str(tmp_path / "st")).name == "ip-adapter_sd15.safetensors"  # h94 layout
    from_st = load_ip_adapter_state(tmp_path / "st")
    from_bin = load_ip_adapter_state(tmp_path / "bin" / "ip-adapter_sd15.bin")
    expected = tiny_ip_adapter_state()
    assert sorted(from_st["image_proj"]) == ["norm.bias", "norm.weight", "proj.bias", "proj.weight"]
    assert sorted(from_st["ip_adapter"]) == sorted(expected["ip_adapter"])
    assert len(from_st["ip_adapter"]) == 8  # 4 cross-attention layers (down 1, mid 1, up 2) x (k, v)
    for group in ("image_proj", "ip_adapter"):
        for key, value in expected[group].items():
            assert torch.equal(from_st[group][key], value)
            assert torch.equal(from_bin[group][key], value)
    assert ip_adapter_embed_dim(tmp_path / "bin" / "ip-adapter_sd15.bin") == D


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_malicious_pickle_is_refused_without_running_it(tmp_path):
    import pickle

    import torch

    from avstudio.render.ip_adapter import load_ip_adapter_state

    marker = tmp_path / "code-ran"
    torch.save({"image_proj": _Payload(marker), "ip_adapter": {}}, tmp_path / "evil.bin")
    with (tmp_path / "evil-raw.bin").open("wb") as f:
        pickle.dump({"image_proj": _Payload(marker)}, f, protocol=2)
    for name in ("evil.bin", "evil-raw.bin"):
        with pytest.raises(ModelError, match="refusing to load .*the pickle wants to run code"):
            load_ip_adapter_state(tmp_path / name)
    assert not marker.exists()


def test_plus_adapters_and_junk_are_refused(tmp_path):
    import torch
    from safetensors.torch import save_file

    from avstudio.render.ip_adapter import ip_adapter_embed_dim, load_ip_adapter_state

    save_file({"image_proj.latents": torch.zeros(1, 16, 32), "ip_adapter.1.to_k_ip.weight": torch.zeros(4, 4)},
              str(tmp_path / "plus.safetensors"))
    with pytest.raises(ModelError, match="not a plain IP-Adapter"):
        ip_adapter_embed_dim(tmp_path / "plus.safetensors")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.bin")
    with pytest.raises(ModelError, match="does not look like IP-Adapter weights"):
        load_ip_adapter_state(tmp_path / "other.bin")


# -- bench smoke --------------------------------------------------------------------------
def test_bench_smoke_path_runs_on_cpu(capsys, monkeypatch):
    import sys

    spec = importlib.util.spec_from_file_location("gpu_paint", REPO / "bench" / "gpu_paint.py")
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_paint", bench)  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    assert bench.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    for row in ("paint original", "paint fast", "CLIP images", "CLAP windows"):
        assert row in out
