"""GPU throughput of the neural "blind painter": SD 1.5 + IP-Adapter painting, CLIP and CLAP encoding.

Every model is built at its real size from its public config, with RANDOM
weights (same compute as the released checkpoints, nothing downloaded), saved to
a temporary folder and loaded through avstudio's own classes
(:class:`~avstudio.render.sd15.SD15Renderer`,
:class:`~avstudio.encoders.clip.ClipImageEncoder`,
:class:`~avstudio.encoders.clap.ClapAudioEncoder`), so the numbers are those
of the code users run.

Rows
----
paint original   15 DPM-Solver++ steps, CFG 7.5, 512x512, img2img at ``--strength``
                 from the previous frame (one cut first), as the original project.
paint original, batch B
                 the same settings, B segments painted side by side
                 (``render.batch``): frame k of B independent chains per UNet call;
                 also reported as segments/s.
paint fast       the few-step mode: a (random) LoRA fused into the UNet, the LCM
                 scheduler, 4 steps, guidance 1 (no CFG pass), batch 1 and batch B.
                 Fused QKV is left out on purpose: diffusers'
                 ``fuse_qkv_projections`` swaps every attention processor for
                 ``FusedAttnProcessor2_0``, which drops the IP-Adapter processors.
paint workers    1 and 2 torchrun worker processes (``render.devices``; two
                 processes share the GPU when only one is lent), original
                 settings: steady frames/s summed over workers, and wall time with
                 process start and model load.

The ratio column divides each paint row by "paint original" at batch 1 with the
same dtype and compile setting, measured in the same run.
CLIP images      ViT-H/14 ``encode_images`` on 512x512 uint8 frames (PIL
                 preprocessing included) and the vision tower alone.
CLAP windows     htsat-unfused ``encode_audio`` on 1 s windows (batched, torch
                 log-mel on the GPU) and the original path (numpy
                 ``ClapFeatureExtractor`` + batch 1).

Each row runs with fp16 and fp32 and with ``torch.compile`` off and on
(``--no-compile`` skips compiling; it costs about a minute per model).

Usage::

    python bench/gpu_paint.py                 # needs CUDA
    python bench/gpu_paint.py --only paint    # one group
    python bench/gpu_paint.py --smoke         # tiny models on the CPU: checks the script works
    python bench/gpu_paint.py --batches 4,8 --workers 2
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SD15_UNET = dict(
    act_fn="silu",
    attention_head_dim=8,
    block_out_channels=(320, 640, 1280, 1280),
    cross_attention_dim=768,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    downsample_padding=1,
    flip_sin_to_cos=True,
    freq_shift=0,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    mid_block_scale_factor=1,
    norm_eps=1e-5,
    norm_num_groups=32,
    sample_size=64,
)
"""``stable-diffusion-v1-5/unet/config.json``."""

SD15_VAE = dict(
    act_fn="silu",
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    layers_per_block=2,
    norm_num_groups=32,
    sample_size=512,
)
"""``stable-diffusion-v1-5/vae/config.json``."""

SD15_TEXT = dict(
    hidden_size=768,
    intermediate_size=3072,
    num_attention_heads=12,
    num_hidden_layers=12,
    max_position_embeddings=77,
    vocab_size=49408,
    hidden_act="quick_gelu",
    projection_dim=768,
)
"""The CLIP ViT-L/14 text encoder of SD 1.5."""

CLIP_VIT_H14 = dict(
    hidden_size=1280,
    intermediate_size=5120,
    num_attention_heads=16,
    num_hidden_layers=32,
    patch_size=14,
    image_size=224,
    projection_dim=1024,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
)
"""``laion/CLIP-ViT-H-14-laion2B-s32B-b79K`` vision tower."""

CLAP_EXTRACTOR = dict(
    feature_size=64,
    sampling_rate=48_000,
    hop_length=480,
    max_length_s=10,
    fft_window_size=1024,
    frequency_min=50,
    frequency_max=14_000,
    truncation="rand_trunc",
    padding="repeatpad",
)
"""``laion/clap-htsat-unfused`` feature extractor (its audio tower is ``ClapAudioConfig()``'s defaults)."""


@dataclass
class Row:
    what: str
    dtype: str
    compiled: str
    rate: float
    unit: str
    note: str = ""
    ratio: float | None = None


# -- building random models ---------------------------------------------------------------
def build_sd15(folder: Path, *, full: bool, device: str) -> tuple[Path, Path]:
    """A random SD 1.5 pipeline folder and a matching random ip-adapter_sd15 file."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from tests.neural import tiny_models as tiny

    torch.manual_seed(0)
    build_on = device if full else "cpu"
    with torch.device(build_on):
        unet = UNet2DConditionModel(**(SD15_UNET if full else tiny.TINY_UNET))
        vae = AutoencoderKL(**(SD15_VAE if full else tiny.TINY_VAE))
        text = CLIPTextConfig(**SD15_TEXT) if full else CLIPTextConfig(
            hidden_size=tiny.SD_CROSS_ATTENTION_DIM, intermediate_size=37, num_attention_heads=4,
            num_hidden_layers=2, vocab_size=200, max_position_embeddings=77, bos_token_id=198, eos_token_id=199,
            pad_token_id=199,
        )
        text_encoder = CLIPTextModel(text)
    if full:  # fp16 files: half the disk and load time; random weights lose nothing
        unet, vae, text_encoder = unet.half(), vae.half(), text_encoder.half()
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=CLIPTokenizer.from_pretrained(tiny.TOKENIZER_DIR),  # ids < 200 are valid for both sizes
        scheduler=PNDMScheduler(**tiny.SD15_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder / "sd15")
    state = tiny.ip_adapter_state_for(unet, image_embed_dim=1024 if full else tiny.CLIP_PROJECTION_DIM)
    adapter = tiny.save_ip_adapter_state(state, folder / "ip-adapter_sd15.safetensors")
    del pipe, unet, vae, text_encoder
    _free()
    return folder / "sd15", adapter


def build_clip(folder: Path, *, full: bool, device: str) -> Path:
    import torch
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModelWithProjection

    from tests.neural import tiny_models as tiny

    if not full:
        return tiny.save_tiny_clip_vision(folder / "clip")
    torch.manual_seed(0)
    with torch.device(device):
        model = CLIPVisionModelWithProjection(CLIPVisionConfig(**CLIP_VIT_H14))
    model.to(torch.float16).save_pretrained(folder / "clip")
    CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(
        folder / "clip"
    )
    del model
    _free()
    return folder / "clip"


def build_clap(folder: Path, *, full: bool, device: str) -> Path:
    import torch
    from transformers import ClapAudioConfig, ClapAudioModelWithProjection, ClapFeatureExtractor

    from tests.neural import tiny_models as tiny

    if not full:
        return tiny.save_tiny_clap(folder / "clap")
    torch.manual_seed(0)
    with torch.device(device):
        model = ClapAudioModelWithProjection(ClapAudioConfig(projection_dim=512))
    model.save_pretrained(folder / "clap")
    ClapFeatureExtractor(**CLAP_EXTRACTOR).save_pretrained(folder / "clap")
    del model
    _free()
    return folder / "clap"


# -- timing ---------------------------------------------------------------------------------
def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _free() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _timed(fn, device: str, repeats: int) -> float:
    """Best wall time of ``repeats`` calls (after the caller's warm-up)."""
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def video_plans(dim: int, *, segments: int, length: int, strength: float) -> list:
    """``segments`` chains of ``length`` frames: a cut, then continuations at ``strength``."""
    from avstudio.render.base import FramePlan

    rng = np.random.default_rng(0)
    return [FramePlan(rng.standard_normal(dim).astype(np.float32), cut=(i % length == 0), strength=strength,
                      polarity=1) for i in range(segments * length)]


def random_lora(folder: Path, out: Path) -> Path:
    """A random LoRA (rank 16, attention projections) for the UNet in ``folder``, the size of LCM-LoRA's."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    torch.manual_seed(1)
    unet.add_adapter(LoraConfig(r=16, lora_alpha=16, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    StableDiffusionPipeline.save_lora_weights(out, unet_lora_layers=get_peft_model_state_dict(unet),
                                              safe_serialization=True)
    del unet
    _free()
    return out


def bench_paint(folder: Path, adapter: Path, args, dtypes, compiles) -> list[Row]:
    from avstudio.render.ip_adapter import ip_adapter_embed_dim
    from avstudio.render.resume import ChunkSpool
    from avstudio.render.sd15 import SD15Renderer
    from avstudio.render.segments import paint_segments, split

    dim = ip_adapter_embed_dim(adapter)
    lora = random_lora(folder, folder.parent / "lora")
    modes = {
        "paint original": dict(steps=15, guidance=7.5, scheduler="dpmsolver++"),
        "paint fast": dict(steps=4, guidance=1.0, scheduler="lcm", lora=str(lora)),
    }
    batches = [1] + [b for b in args.batch_list if b > 1]
    rows = []
    for dtype in dtypes:
        for compiled in compiles:
            flag = "on" if compiled else "off"
            reference = None
            for label, mode in modes.items():
                renderer = SD15Renderer(str(folder), ip_adapter=str(adapter), width=args.size, height=args.size,
                                        device=args.device, dtype=dtype, cut_strength=0.9, compile=compiled,
                                        batch=max(batches), **mode)
                for batch in batches:
                    plans = video_plans(dim, segments=batch, length=args.frames + 1, strength=args.strength)
                    segments = split(plans)
                    renderer.batch = batch
                    start = time.perf_counter()
                    with tempfile.TemporaryDirectory() as warm:  # load, compile, every batch shape once
                        paint_segments(plans, renderer, ChunkSpool(Path(warm), "0" * 24), segments, batch=batch)
                    warmup = time.perf_counter() - start

                    def run():
                        with tempfile.TemporaryDirectory() as spool:
                            paint_segments(plans, renderer, ChunkSpool(Path(spool), "0" * 24), segments,
                                           batch=batch, chunk=len(plans))

                    seconds = _timed(run, args.device, args.repeats)
                    rate = len(plans) / seconds
                    if label == "paint original" and batch == 1:
                        reference = rate
                    steps = renderer.schedule_length(args.strength)
                    note = (f"{int(steps * args.strength)} denoise steps/frame at strength {args.strength}, "
                            f"{len(segments) / seconds:.2f} segments/s of {args.frames + 1} frames; "
                            f"warm-up {warmup:.1f} s")
                    name = label if batch == 1 else f"{label}, batch {batch}"
                    rows.append(Row(name, dtype, flag, rate, "frames/s", note,
                                    rate / reference if reference else None))
                del renderer
                _free()
    if args.workers > 1:
        rows += bench_workers(folder, adapter, args, dtypes[0], rows)
    return rows


def bench_workers(folder: Path, adapter: Path, args, dtype: str, rows: list[Row]) -> list[Row]:
    """1 vs ``args.workers`` torchrun workers on ``args.device`` (processes share it when it is one GPU)."""
    import re

    from avstudio.render.ip_adapter import ip_adapter_embed_dim
    from avstudio.render.resume import ChunkSpool
    from avstudio.render.workers import paint_on_devices

    dim = ip_adapter_embed_dim(adapter)
    plans = video_plans(dim, segments=2 * args.workers, length=args.frames + 1, strength=args.strength)
    settings = dict(model_ref=str(folder), ip_adapter=str(adapter), steps=15, guidance=7.5, width=args.size,
                    height=args.size, dtype=dtype, cut_strength=0.9, image_embed_dim=dim)
    out, reference = [], None
    for workers in (1, args.workers):
        lines: list[str] = []
        with tempfile.TemporaryDirectory() as spool:
            start = time.perf_counter()
            paint_on_devices(plans, ChunkSpool(Path(spool), "0" * 24), settings=settings,
                             devices=[args.device] * workers, batch=1, chunk=len(plans), log=lines.append)
            wall = time.perf_counter() - start
        steady = sum(float(m.group(1)) for m in map(re.compile(r"\(([\d.]+) frames/s\)").search, lines) if m)
        reference = reference or steady
        out.append(Row(f"paint workers x{workers}", dtype, "off", steady, "frames/s",
                       f"{len(plans)} frames, {len(plans) / wall:.2f} frames/s with process start and load "
                       f"({wall:.1f} s wall)", steady / reference))
    return out


def bench_clip(folder: Path, args, dtypes, compiles) -> list[Row]:
    import torch

    from avstudio.encoders.clip import ClipImageEncoder

    rng = np.random.default_rng(0)
    n = args.batch_images
    frames = rng.integers(0, 256, (n, args.size, args.size, 3), dtype=np.uint8)
    rows = []
    for dtype in dtypes:
        for compiled in compiles:
            encoder = ClipImageEncoder(str(folder), device=args.device, batch_size=n, dtype=dtype)
            if compiled:
                encoder.model = torch.compile(encoder.model)
            pixels = encoder.processor(images=list(frames), return_tensors="pt", input_data_format="channels_last")
            pixels = pixels.pixel_values.to(encoder.device, encoder.dtype)

            def tower():
                with torch.inference_mode():
                    encoder.model(pixel_values=pixels)

            encoder.encode_images(frames)  # warm-up (and compile)
            tower()
            end_to_end = _timed(lambda: encoder.encode_images(frames), args.device, args.repeats)
            model_only = _timed(tower, args.device, args.repeats)
            flag = "on" if compiled else "off"
            rows.append(Row("CLIP images", dtype, flag, n / end_to_end, "images/s",
                            f"encode_images, batch {n}, {args.size}px frames, PIL preprocessing included"))
            side = encoder.model.config.image_size
            rows.append(
                Row("CLIP images (tower only)", dtype, flag, n / model_only, "images/s", f"{side}px pixels ready")
            )
            del encoder, pixels
            _free()
    return rows


def bench_clap(folder: Path, args, dtypes, compiles) -> list[Row]:
    import torch
    from transformers import ClapFeatureExtractor

    from avstudio.encoders.clap import ClapAudioEncoder

    rng = np.random.default_rng(0)
    rows = []
    for dtype in dtypes:
        for compiled in compiles:
            encoder = ClapAudioEncoder(str(folder), device=args.device, batch_size=args.batch_windows, dtype=dtype)
            if compiled:
                encoder.model = torch.compile(encoder.model)
            sr = encoder.sample_rate
            windows = (0.1 * rng.standard_normal((args.batch_windows, sr))).astype(np.float32)
            encoder.encode_audio(windows, sr)  # warm-up (and compile)
            seconds = _timed(lambda: encoder.encode_audio(windows, sr), args.device, args.repeats)
            rate = len(windows) / seconds
            rows.append(Row("CLAP windows", dtype, "on" if compiled else "off", rate, "windows/s",
                            f"batch {args.batch_windows}, 1 s windows; at 30 fps: {rate / 30:.1f} s of audio/s "
                            f"every frame, {rate / 3.75:.1f} s/s at the 0.25 s hop"))
            del encoder
            _free()
    # the original path: numpy feature extractor, one window at a time, fp32
    extractor = ClapFeatureExtractor.from_pretrained(folder, local_files_only=True)
    encoder = ClapAudioEncoder(str(folder), device=args.device, dtype="float32")
    sr = encoder.sample_rate
    window = (0.1 * rng.standard_normal(sr)).astype(np.float32)

    def original():
        inputs = extractor(window, sampling_rate=sr, truncation="rand_trunc", return_tensors="pt")
        with torch.inference_mode():
            encoder.model(input_features=inputs["input_features"].to(encoder.device, encoder.dtype))

    original()
    seconds = _timed(original, args.device, args.repeats)
    rows.append(Row("CLAP windows (original)", "float32", "off", 1 / seconds,
                    "windows/s", "numpy ClapFeatureExtractor + batch 1"))
    return rows


def print_table(rows: list[Row], header: str) -> None:
    print(header)
    print(f"{'row':<30} {'dtype':<9} {'compile':<8} {'rate':>10}  {'unit':<10} {'ratio':>6}  note")
    print("-" * 120)
    for r in rows:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        print(f"{r.what:<30} {r.dtype:<9} {r.compiled:<8} {r.rate:>10.2f}  {r.unit:<10} {ratio:>6}  {r.note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--smoke", action="store_true", help="tiny models on the CPU, to check the script runs")
    parser.add_argument("--only", default="paint,clip,clap", help="comma-separated groups: paint, clip, clap")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile columns")
    parser.add_argument("--dtypes", default="float16,float32", help="comma-separated dtypes to time")
    parser.add_argument("--frames", type=int, default=8, help="frames timed per paint row")
    parser.add_argument("--strength", type=float, default=0.5, help="img2img strength of continuation frames")
    parser.add_argument("--size", type=int, default=512, help="paint width = height")
    parser.add_argument("--batch-images", type=int, default=64)
    parser.add_argument("--batch-windows", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats per row (best is kept)")
    parser.add_argument("--batches", default="4,8", help="comma-separated render.batch sizes to time besides 1")
    parser.add_argument("--workers", type=int, default=2, help="time 1 vs this many paint workers (1: skip)")
    args = parser.parse_args(argv)

    import torch

    groups = {g.strip() for g in args.only.split(",") if g.strip()}
    args.batch_list = [int(b) for b in args.batches.split(",") if b.strip()]
    if args.smoke:
        args.device, args.size, args.frames, args.repeats = "cpu", 32, 2, 1
        args.batch_list = [2]
        args.batch_images, args.batch_windows = 4, 4
        dtypes, compiles = ["float32"], [False]
        torch.set_num_threads(1)
    else:
        if not args.device.startswith("cuda") or not torch.cuda.is_available():
            print(
                f"bench/gpu_paint.py: no CUDA device here (torch {torch.__version__}, device '{args.device}'); "
                "it times full-size models on a GPU. Run it on a CUDA machine, "
                "or pass --smoke for the CPU smoke test.",
                file=sys.stderr,
            )
            return 2
        dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
        compiles = [False] if args.no_compile else [False, True]
    full = not args.smoke
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="avstudio-bench-") as tmp:
        tmp = Path(tmp)
        if "paint" in groups:
            folder, adapter = build_sd15(tmp, full=full, device=args.device)
            rows += bench_paint(folder, adapter, args, dtypes, compiles)
        if "clip" in groups:
            rows += bench_clip(build_clip(tmp, full=full, device=args.device), args, dtypes, compiles)
        if "clap" in groups:
            rows += bench_clap(build_clap(tmp, full=full, device=args.device), args, dtypes, compiles)
    name = "CPU smoke (tiny models)" if args.smoke else torch.cuda.get_device_name(args.device)
    print_table(rows, f"avstudio neural throughput on {name}, torch {torch.__version__}, random weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
