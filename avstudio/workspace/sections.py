"""The tables of ``avstudio.toml``, per template.

Tables owned by a computation (``[sonify]``, ``[train]``, ``[temporal]``) take
their keys from that computation's ``FIELDS`` so the schema and the code that
reads it cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from avstudio.workspace.schema import Field, Section

TEMPLATES = ("sonify", "bad-apple")
SD_SCHEDULERS = ("dpmsolver++", "ddim", "euler", "euler_a", "pndm", "lcm", "tcd")


def _core_sections() -> list[Section]:
    return [
        Section("project", "What this workspace is.", {
            "name": Field("str", "untitled", "A name shown by status and the TUI."),
            "template": Field("choice", "sonify", "Which pipeline this workspace runs.", choices=TEMPLATES),
        }),
        Section("media", "Source media.", {
            "video": Field("str", "", "The source video (absolute, or relative to this folder)."),
        }),
        Section("analysis", "How frames are sampled from the video.", {
            "fps": Field("float_or_source", "source", "Frames per second to analyse: \"source\" or a rate.", lo=1, hi=240),
            "size": Field("int_or_source", 160, "Longest side in pixels of analysed frames (never upscales), or \"source\". Features are per-frame statistics, so 160 keeps them while cutting work 4x over 320.", lo=16, hi=8192),
            "chunk": Field("int", 256, "Frames per chunk streamed from decoder to store (bounds memory).", lo=8, hi=4096),
        }),
        Section("features", "Per-frame visual and audio features.", {
            "mass_range": Field("pair", [0.0, 100.0], "Colour range [lo, hi] all three channels must lie in for a pixel to count as mass.", lo=0, hi=255),
            "flow_size": Field("int", 48, "Longest side in pixels at which optical flow (motion) is computed.", lo=16, hi=4096),
            "audio": Field("bool", True, "Also compute audio features (RMS, onset, centroid) when the video has sound."),
        }),
        Section("output", "Files written to outputs/.", {
            "crf": Field("int", 20, "H.264 quality for encoded video (0 = lossless, 51 = worst).", lo=0, hi=51),
            "wav_subtype": Field("choice", "PCM_16", "Sample format of written WAV files.", choices=("PCM_16", "PCM_24", "FLOAT")),
        }),
        Section("encoders", "Audio and image encoders of the blind painter.", {
            "audio": Field("str", "builtin", "\"builtin\" (no weights) or \"clap:<model id or folder>\"."),
            "image": Field("str", "builtin", "\"builtin\" (PCA eigenframes) or \"clip:<model id or folder>\"."),
            "window_seconds": Field("float", 1.0, "Audio window centred on each frame, in seconds.", lo=0.05, hi=30),
            "context_seconds": Field("float", 4.0, "Scene context: the mapper also sees the audio embedding averaged over this many seconds (0 = off).", lo=0, hi=120),
            "components": Field("int", 32, "Built-in image code size (PCA components).", lo=2, hi=512),
            "code_size": Field("int", 64, "Longest side in pixels at which the built-in image code is fitted.", lo=8, hi=512),
            "device": Field("str", "auto", "Device for neural encoders: auto, cpu, cuda, cuda:N, mps."),
            "devices": Field("devices", "", "Neural encoders on several devices, one torchrun worker process each (frames and windows shared out); \"\" uses encoders.device alone."),
            "batch_size": Field("int", 32, "Windows or frames per encoder batch.", lo=1, hi=4096),
        }, templates=("bad-apple",)),
        Section("render", "How painted frames are made.", {
            "backend": Field("choice", "retrieval", "\"retrieval\" (real training frames on a path that follows the predictions, any CPU), \"decoder\" (decodes the built-in image code; \"builtin\" is its older name) or \"sd15\" (Stable Diffusion 1.5 + IP-Adapter).", choices=("retrieval", "decoder", "builtin", "sd15")),
            "width": Field("int", 0, "Output width in pixels (0 = the analysis width, the training frames' size).", lo=0, hi=4096),
            "height": Field("int", 0, "Output height in pixels (0 = the analysis height).", lo=0, hi=4096),
            "crispness": Field("float", 0.5, "Decoder renderer: 0 = soft decoded frames, 1 = hard black/white.", lo=0, hi=1),
            "model": Field("str", "runwayml/stable-diffusion-v1-5", "sd15: SD 1.5 folder or Hugging Face id (local cache only)."),
            "ip_adapter": Field("str", "h94/IP-Adapter", "sd15: ip-adapter_sd15 weights: a file, a folder or a Hugging Face id."),
            "ip_adapter_scale": Field("float", 1.0, "sd15: how strongly the predicted embedding steers the image.", lo=0, hi=2),
            "prompt": Field("str", "", "sd15: text prompt added to every frame."),
            "negative_prompt": Field("str", "", "sd15: negative prompt."),
            "steps": Field("int", 15, "sd15: denoising steps.", lo=1, hi=200),
            "guidance": Field("float", 7.5, "sd15: classifier-free guidance scale.", lo=0, hi=30),
            "scheduler": Field("choice", "dpmsolver++", "sd15: sampler.", choices=SD_SCHEDULERS),
            "cut_strength": Field("float", 0.95, "sd15: img2img strength from the black/white start image on cuts.", lo=0.05, hi=1),
            "seed": Field("int", 0, "Random seed (per-frame seeds derive from it, so resumed runs match).", lo=0, hi=2**32 - 1),
            "device": Field("str", "auto", "auto, cpu, cuda, cuda:N or mps."),
            "devices": Field("devices", "", "sd15: paint on several devices, one torchrun worker process each; \"\" paints in this process on render.device."),
            "batch": Field("int", 1, "sd15: segments painted side by side in one diffusion call (speed only; lower it on out-of-memory).", lo=1, hi=256),
            "max_segment_seconds": Field("float", 4.0, "sd15: longest chain of frames painted from one another; a keyframe cut starts a new one (parallelism, like a codec's keyframe interval). 0 = cuts only.", lo=0, hi=3600),
            "lora": Field("str", "", "sd15: a few-step LoRA for SD 1.5 (LCM-LoRA, TCD, Hyper-SD, PCM): a .safetensors file, a folder or a cached Hugging Face id; \"\" = none."),
            "lora_scale": Field("float", 1.0, "sd15: how strongly the LoRA is fused.", lo=0, hi=2),
            "dtype": Field("choice", "auto", "auto = float16 on CUDA, float32 elsewhere; float64 is exact to the bit on a CPU whatever render.batch (slow).", choices=("auto", "float16", "bfloat16", "float32", "float64")),
            "chunk": Field("int", 32, "Frames committed to the store at a time (resume granularity).", lo=1, hi=4096),
        }, templates=("bad-apple",)),
        Section("paint", "Which checkpoint paints, and how much.", {
            "checkpoint": Field("str", "best", "\"best\" (lowest validation loss on the current data), \"latest\", or a checkpoint name (or a unique part of one)."),
            "max_frames": Field("int", 0, "Paint at most this many frames (0 = all); for quick tests.", lo=0),
        }, templates=("bad-apple",)),
    ]


_KINDS = {int: "int", float: "float", bool: "bool", list: "pair", dict: "str_map"}


def _field_from_meta(meta: Any) -> Field:
    """A computation's ``(type, default, allowed, doc)`` field metadata as a schema field."""
    typ, default, allowed, doc = meta[:4]
    text = getattr(meta, "allowed_text", None)
    if hasattr(allowed, "low"):  # a Range object
        kind = _KINDS[typ]
        return Field(kind, default, doc, lo=allowed.low, hi=allowed.high,
                     allowed_text=f"{'an integer' if typ is int else 'a number'} {allowed}")
    allowed = tuple(allowed or ())
    if typ is str:
        return Field("choice" if allowed else "str", default, doc, choices=allowed or None, allowed_text=text)
    if typ is dict:
        return Field("str_map", dict(default), doc, keys=tuple(default), choices=allowed, allowed_text=text)
    lo, hi = (allowed + (None, None))[:2] if allowed else (None, None)
    return Field(_KINDS[typ], default, doc, lo=lo, hi=hi, allowed_text=text)


def computed_section(name: str, doc: str, fields: dict[str, Any], config_cls: Any,
                     templates: tuple[str, ...], commented: frozenset = frozenset()) -> Section:
    """A section whose keys and validation belong to ``config_cls`` (``from_dict`` + ``FIELDS``);
    the ``commented`` keys are written commented out in templates."""
    from dataclasses import replace

    def validator(table: dict) -> dict:
        config = config_cls.from_dict(table)
        return {key: _plain(getattr(config, key)) for key in fields}

    return Section(name, doc, {k: replace(_field_from_meta(v), commented=k in commented) for k, v in fields.items()},
                   templates=templates, validator=validator)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


@cache
def _computed_sections() -> tuple[Section, ...]:
    from avstudio.mapper.train import FIELDS as train_fields, TrainConfig
    from avstudio.render.temporal import FIELDS as temporal_fields, TemporalConfig
    from avstudio.synth.config import FIELDS as sonify_fields, PRESET_KEYS, SonifyConfig

    return (
        computed_section("sonify", "How features become sound.", sonify_fields, SonifyConfig, ("sonify",),
                         commented=PRESET_KEYS),
        computed_section("train", "Mapper architecture and training.", train_fields, TrainConfig, ("bad-apple",)),
        computed_section("temporal", "Temporal logic between painted frames.", temporal_fields, TemporalConfig, ("bad-apple",)),
    )


def all_sections() -> list[Section]:
    """Every section, in manifest order."""
    core = _core_sections()
    order = ["project", "media", "analysis", "features", "sonify", "output", "encoders", "train", "temporal", "render", "paint"]
    by_name = {s.name: s for s in core + list(_computed_sections())}
    return [by_name[n] for n in order]


def sections_for(template: str) -> dict[str, Section]:
    """The sections a manifest of ``template`` may contain."""
    return {s.name: s for s in all_sections() if template in s.templates}
