"""Stable Diffusion 1.5 + IP-Adapter renderer: paints the mapper's image embeddings.

Each frame's planned embedding (a CLIP ViT-H/14 ``image_embeds`` vector the
mapper predicted from the audio) goes straight into the UNet as
``ip_adapter_image_embeds``; the classifier-free-guidance negative is a zero
embedding, as diffusers' own ``encode_image`` uses for plain IP-Adapters.

Frames are painted one after another, each an img2img step away from the last:

* on a cut (or with no previous frame) the frame starts from a solid image of
  the scene's polarity - black for -1, white for +1 - at ``cut_strength``
  (almost a full regeneration, but dark scenes stay dark);
* otherwise it starts from the previous painted frame at the plan's
  ``strength``. img2img runs ``int(steps * strength)`` denoising steps; when
  that is below ``min_steps`` the schedule is refined (more nominal steps) so
  at least ``min_steps`` run at the same noise level. Strength 0 repeats the
  previous frame.

Every frame draws its noise from a generator seeded with ``seed + frame index``,
and the previous frame is always the stored ``uint8`` picture, so painting
frames 0..3 in one call equals painting 0..1 and then 2..3 with frame 1 passed
as ``previous``: a resumed run equals an uninterrupted one.

**Batches.** Segments (the frames from one cut to the next) are independent
chains, so frame ``k`` of several segments can share one diffusion call
(:meth:`SD15Renderer.render_many`, ``render.batch``). img2img's effect depends
only on the nominal step count and ``int(steps * strength)``, so frames with
the same pair (every cut, and continuations whose strengths round alike) are
batched with their own noise generators. diffusers repeats precomputed
IP-Adapter embeddings once per batch item (issue #9813), which hands each
image the wrong embedding; this renderer passes the embeddings through
unchanged instead, and a test proves a batch of N equals N single calls
(bit for bit in float64 on a CPU).

**Few-step mode.** ``render.lora`` fuses a local LCM-LoRA / TCD / Hyper-SD /
PCM file into the UNet and ``render.scheduler = "lcm"`` or ``"tcd"`` samples in
4-8 steps at guidance 1-2; see :mod:`avstudio.render.lora`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.errors import Cancelled, ModelError
from avstudio.models.device import dtype_name, oom_guard, pick_device, pick_dtype
from avstudio.models.resolve import KNOWN_MODELS, quiet_loading, resolve_model
from avstudio.render.base import FramePlan
from avstudio.render.ip_adapter import (
    DEFAULT_IP_ADAPTER,
    check_embed_dims,
    resolve_ip_adapter,
    ip_adapter_cross_attention_dim,
    ip_adapter_embed_dim,
    load_ip_adapter_state,
)

DEFAULT_MODEL = KNOWN_MODELS["sd15"]

SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "dpmsolver++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "lcm": ("LCMScheduler", {}),
    "tcd": ("TCDScheduler", {}),
}
"""Scheduler names accepted in ``render.scheduler`` -> diffusers class and options."""

SD15_REQUIRED = (
    "model_index.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors|unet/diffusion_pytorch_model.fp16.safetensors"
    "|unet/diffusion_pytorch_model.bin",
    "vae/config.json",
    "text_encoder/config.json",
    "tokenizer/tokenizer_config.json",
    "scheduler/scheduler_config.json",
)


class SD15Renderer:
    """Paints frames with Stable Diffusion 1.5 conditioned on IP-Adapter image embeddings.

    Construction is cheap and checks everything that can be checked without
    loading weights (folders, files, embedding sizes, device); the pipeline is
    loaded on the first :meth:`render` (or :meth:`load`).

    Parameters
    ----------
    model_ref : str
        Folder or Hugging Face id of a Stable Diffusion 1.5 pipeline.
    ip_adapter : str
        IP-Adapter weights: file, folder or Hugging Face id (see
        :func:`~avstudio.render.ip_adapter.resolve_ip_adapter`).
    ip_adapter_scale : float
        How strongly the image embedding steers the picture.
    prompt, negative_prompt : str
        Text conditioning, encoded once.
    steps : int
        Denoising steps of a full (strength 1) generation.
    guidance : float
        Classifier-free guidance scale; <= 1 disables CFG.
    scheduler : str
        One of :data:`SCHEDULERS`.
    seed : int
        Frame ``k`` uses seed ``seed + k``.
    width, height : int
        Output size, multiples of 8.
    device, dtype : str
        As for :func:`~avstudio.models.device.pick_device` / ``pick_dtype``
        (``"auto"``: fp16 on CUDA, fp32 elsewhere).
    cut_strength : float
        img2img strength from the polarity start image on cuts, in (0, 1].
    min_steps : int
        Fewest denoising steps a frame gets.
    image_embed_dim : int, optional
        Size of the embeddings that will be painted (the image encoder's
        ``dim``); checked against the adapter now, before any GPU work.
    channels_last : bool
        Store UNet and VAE activations channels-last (faster convolutions on
        recent NVIDIA GPUs; see ``bench/gpu_paint.py``).
    compile : bool
        ``torch.compile`` the UNet and the VAE encoder/decoder on load (the
        first frames pay the compile time). Neither option is part of
        :attr:`config`: they change speed, not the picture (beyond float
        rounding).
    lora : str
        A few-step LoRA (file, folder or cached id; ``.safetensors`` only), or
        ``""`` for none.
    lora_scale : float
        How strongly the LoRA is fused.
    batch : int
        Most frames per diffusion call in :meth:`render_many` (speed only: not
        part of :attr:`config`).
    cancel : CancelToken
        Checked between frames and between denoising steps.
    base_dir : path, optional
        Folder relative paths are relative to (the workspace).
    """

    name = "sd15"

    def __init__(
        self,
        model_ref: str = DEFAULT_MODEL,
        ip_adapter: str = DEFAULT_IP_ADAPTER,
        *,
        ip_adapter_scale: float = 1.0,
        prompt: str = "",
        negative_prompt: str = "",
        steps: int = 15,
        guidance: float = 7.5,
        scheduler: str = "dpmsolver++",
        seed: int = 0,
        width: int = 512,
        height: int = 512,
        device: str = "auto",
        dtype: str = "auto",
        cut_strength: float = 0.9,
        min_steps: int = 2,
        image_embed_dim: int | None = None,
        channels_last: bool = False,
        compile: bool = False,
        lora: str = "",
        lora_scale: float = 1.0,
        batch: int = 1,
        cancel: CancelToken = NEVER,
        base_dir: Any = None,
    ) -> None:
        if scheduler not in SCHEDULERS:
            raise ModelError(f"unknown render.scheduler '{scheduler}'", hint=f"use one of {', '.join(SCHEDULERS)}")
        if width <= 0 or height <= 0 or width % 8 or height % 8:
            raise ModelError(
                f"render size {width}x{height} is not a multiple of 8", hint="set render.width/height to multiples of 8"
            )
        if int(steps) < 1:
            raise ModelError(f"render.steps must be at least 1, got {steps}")
        if not 0.0 < float(cut_strength) <= 1.0:
            raise ModelError(f"render.cut_strength must be in (0, 1], got {cut_strength}")
        self.device = pick_device(device, setting="render.device")
        self.dtype = pick_dtype(dtype, self.device, setting="render.dtype")
        self.folder = resolve_model(
            model_ref,
            role="Stable Diffusion 1.5",
            required=SD15_REQUIRED,
            base=base_dir,
            setting="render.model = '/path/to/stable-diffusion-v1-5'",
        )
        self.adapter_file = resolve_ip_adapter(ip_adapter, base=base_dir)
        self.embed_dim = ip_adapter_embed_dim(self.adapter_file)
        self._check_cross_attention(model_ref)
        self.lora_file = None
        if lora:
            from avstudio.render.lora import check_lora, resolve_lora

            self.lora_file = resolve_lora(lora, base=base_dir)
            check_lora(self.lora_file, self._unet_cross_attention_dim())
        if int(batch) < 1:
            raise ModelError(f"render.batch must be at least 1, got {batch}")
        self.batch = int(batch)
        self.lora_scale = float(lora_scale)
        if image_embed_dim is not None:
            check_embed_dims(image_embed_dim, self.embed_dim, adapter=f"IP-Adapter {self.adapter_file.name}")
        self.ip_adapter_scale = float(ip_adapter_scale)
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.steps = int(steps)
        self.guidance = float(guidance)
        self.scheduler = scheduler
        self.seed = int(seed)
        self.size = (int(width), int(height))
        self.cut_strength = float(cut_strength)
        self.min_steps = max(1, int(min_steps))
        self.channels_last = bool(channels_last)
        self.compile = bool(compile)
        self.cancel = cancel
        self.config: dict[str, Any] = {
            "model": model_ref,
            "ip_adapter": ip_adapter,
            "ip_adapter_scale": self.ip_adapter_scale,
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "steps": self.steps,
            "guidance": self.guidance,
            "scheduler": scheduler,
            "seed": self.seed,
            "width": self.size[0],
            "height": self.size[1],
            "dtype": dtype_name(self.dtype),
            "cut_strength": self.cut_strength,
            "min_steps": self.min_steps,
        }
        if lora:
            self.config.update(lora=lora, lora_scale=self.lora_scale)
        self._pipe: Any = None
        self._prompt_embeds: Any = None
        self._negative_embeds: Any = None

    def _unet_cross_attention_dim(self) -> int:
        return json.loads((self.folder / "unet" / "config.json").read_text()).get("cross_attention_dim")

    def _check_cross_attention(self, model_ref: str) -> None:
        unet_dim = self._unet_cross_attention_dim()
        adapter_dim = ip_adapter_cross_attention_dim(self.adapter_file)
        if unet_dim != adapter_dim:
            raise ModelError(
                f"IP-Adapter {self.adapter_file.name} is for a UNet with cross-attention size {adapter_dim} "
                f"but {model_ref} has {unet_dim}",
                hint="use ip-adapter_sd15 with a Stable Diffusion 1.5 model",
            )

    # -- loading ----------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def load(self) -> Any:
        """Load the img2img pipeline, the adapter and the prompt embeddings (once).

        Returns
        -------
        diffusers.StableDiffusionImg2ImgPipeline
        """
        if self._pipe is not None:
            return self._pipe
        import diffusers
        import torch
        from transformers import CLIPImageProcessorPil

        guard = oom_guard("loading Stable Diffusion", hint="set render.dtype = 'float16'")
        with quiet_loading(diffusers=True), guard:
            pipe = diffusers.StableDiffusionImg2ImgPipeline.from_pretrained(
                self.folder,
                local_files_only=True,
                safety_checker=None,
                feature_extractor=CLIPImageProcessorPil(),
                requires_safety_checker=False,
                dtype=self.dtype,
                **self._variant(),
            )
            class_name, options = SCHEDULERS[self.scheduler]
            pipe.scheduler = getattr(diffusers, class_name).from_config(pipe.scheduler.config, **options)
            pipe.load_ip_adapter(
                load_ip_adapter_state(self.adapter_file), subfolder="", weight_name="", image_encoder_folder=None
            )
            pipe.set_ip_adapter_scale(self.ip_adapter_scale)
            # diffusers repeats precomputed embeddings once per batch item (issue #9813); ours are already
            # laid out per item, [negatives; positives], so they go to the UNet as given.
            pipe.prepare_ip_adapter_image_embeds = _embeds_as_given
            if self.lora_file is not None:
                from avstudio.render.lora import load_lora

                load_lora(pipe, self.lora_file, scale=self.lora_scale)
            pipe.set_progress_bar_config(disable=True)
            pipe = pipe.to(self.device, self.dtype)
            self._speed_up(pipe)
            with torch.inference_mode():
                self._prompt_embeds, self._negative_embeds = pipe.encode_prompt(
                    self.prompt, self.device, 1, self.guidance > 1.0, self.negative_prompt
                )
        self._pipe = pipe
        return pipe

    def _speed_up(self, pipe: Any) -> None:
        import torch

        if self.channels_last:
            pipe.unet.to(memory_format=torch.channels_last)
            pipe.vae.to(memory_format=torch.channels_last)
        if self.compile:
            pipe.unet = torch.compile(pipe.unet)
            pipe.vae.encoder = torch.compile(pipe.vae.encoder)
            pipe.vae.decoder = torch.compile(pipe.vae.decoder)

    def _variant(self) -> dict[str, str]:
        """Use the fp16 weight files when painting in fp16 or when they are the only ones."""
        import torch

        unet = self.folder / "unet"
        has_fp16 = (unet / "diffusion_pytorch_model.fp16.safetensors").is_file()
        has_full = any((unet / f"diffusion_pytorch_model.{ext}").is_file() for ext in ("safetensors", "bin"))
        if has_fp16 and (self.dtype == torch.float16 or not has_full):
            return {"variant": "fp16"}
        return {}

    # -- painting ---------------------------------------------------------------------
    def render(self, plans: list[FramePlan], previous: np.ndarray | None, *, start: int) -> np.ndarray:
        """Paint a chunk of consecutive frames.

        Parameters
        ----------
        plans : list of FramePlan
            One plan per frame; ``embedding`` has shape ``(embed_dim,)``.
        previous : np.ndarray [shape=(h, w, 3), uint8] or None
            The frame painted just before ``plans[0]``.
        start : int
            Index of ``plans[0]`` in the video (seeds frame ``k`` with ``seed + k``).

        Returns
        -------
        np.ndarray [shape=(len(plans), h, w, 3), uint8]

        Raises
        ------
        ModelError
            Embedding size mismatch (before loading anything), GPU out of memory.
        Cancelled
            The cancel token fired; frames of this chunk are discarded.
        """
        width, height = self.size
        adapter = f"IP-Adapter {self.adapter_file.name}"
        for plan in plans:
            check_embed_dims(np.shape(plan.embedding)[-1], self.embed_dim, adapter=adapter)
        if previous is not None and previous.shape != (height, width, 3):
            raise ModelError(
                f"previous frame is {previous.shape}, expected ({height}, {width}, 3)",
                hint="repaint from the start after changing render.width/height",
            )
        out = np.zeros((len(plans), height, width, 3), dtype=np.uint8)
        for i, plan in enumerate(plans):
            out[i] = self.render_many([(plan, previous, start + i)])[0]
            previous = out[i]
        return out

    def batch_key(self, plan: FramePlan, has_previous: bool) -> tuple:
        """Frames with equal keys can share one diffusion call: ``(nominal steps, steps run)``, or ``("copy",)``."""
        strength = self.cut_strength if plan.cut or not has_previous else min(max(float(plan.strength), 0.0), 1.0)
        n_steps = self.schedule_length(strength)
        return ("copy",) if n_steps is None else (n_steps, int(n_steps * strength))

    def render_many(self, items: list[tuple[FramePlan, np.ndarray | None, int]]) -> list[np.ndarray]:
        """Paint one frame each of several independent chains, in as few diffusion calls as possible.

        Parameters
        ----------
        items : list of (plan, previous, index)
            ``previous`` [shape=(h, w, 3), uint8] or None is the frame before
            ``index`` in its chain. Items with equal :meth:`batch_key` share
            calls of at most ``batch`` frames; the result does not depend on
            how they are grouped.

        Returns
        -------
        list of np.ndarray [shape=(h, w, 3), uint8]
            One frame per item, in order.
        """
        width, height = self.size
        adapter = f"IP-Adapter {self.adapter_file.name}"
        for plan, previous, _ in items:
            check_embed_dims(np.shape(plan.embedding)[-1], self.embed_dim, adapter=adapter)
            if previous is not None and previous.shape != (height, width, 3):
                raise ModelError(
                    f"previous frame is {previous.shape}, expected ({height}, {width}, 3)",
                    hint="repaint from the start after changing render.width/height",
                )
        out: list[Any] = [None] * len(items)
        if not items:
            return out
        self.load()
        groups: dict[tuple, list[int]] = {}
        for i, (plan, previous, _) in enumerate(items):
            groups.setdefault(self.batch_key(plan, previous is not None), []).append(i)
        first, last = min(it[2] for it in items), max(it[2] for it in items)
        with oom_guard(f"painting frames {first}..{last} at {width}x{height}, {self.batch} at a time",
                       hint="lower render.batch (or render.width/height)"):
            for key, members in groups.items():
                for at in range(0, len(members), self.batch):
                    self.cancel.check()
                    part = members[at:at + self.batch]
                    for i, frame in zip(part, self._paint_batch([items[i] for i in part], key)):
                        out[i] = frame
        return out

    def _paint_batch(self, items: list, key: tuple) -> np.ndarray:
        """Paint items that share a batch key in one pipeline call [shape=(len(items), h, w, 3), uint8]."""
        import torch
        from PIL import Image

        inits, strength = [], 0.0
        for plan, previous, _ in items:
            if plan.cut or previous is None:
                inits.append(self.start_image(plan.polarity))
                strength = self.cut_strength
            else:
                inits.append(previous)
                strength = min(max(float(plan.strength), 0.0), 1.0)
        if key == ("copy",):
            return np.stack([init.copy() for init in inits])
        pipe, batch = self._pipe, len(items)
        generators = [torch.Generator("cpu").manual_seed(self.seed + index) for _, _, index in items]
        with torch.inference_mode():
            latents = pipe(
                image=[Image.fromarray(init) for init in inits],
                strength=strength,
                num_inference_steps=key[0],
                guidance_scale=self.guidance,
                prompt_embeds=self._prompt_embeds.repeat(batch, 1, 1),
                negative_prompt_embeds=None if self._negative_embeds is None else self._negative_embeds.repeat(batch, 1, 1),
                ip_adapter_image_embeds=self.ip_adapter_embeds(np.stack([plan.embedding for plan, _, _ in items])),
                generator=generators,
                output_type="latent",
                callback_on_step_end=self._on_step_end,
            ).images
            if self.cancel.cancelled:
                raise Cancelled()
            image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
            pixels = pipe.image_processor.postprocess(image, output_type="np")
        return np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)

    def _on_step_end(self, pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        """diffusers' per-step hook: stop denoising as soon as the run is cancelled."""
        if self.cancel.cancelled:
            pipe._interrupt = True
        return {}

    def ip_adapter_embeds(self, embedding: np.ndarray) -> list:
        """Embeddings in the layout ``ip_adapter_image_embeds`` takes.

        Parameters
        ----------
        embedding : np.ndarray [shape=(d,) or (b, d), float32]
            One frame's embedding, or one per batch item.

        Returns
        -------
        list of one torch.Tensor [shape=(2b, 1, d)] with CFG (the zero negatives
        first, as the pipeline's ``chunk(2)`` expects), [shape=(b, 1, d)] without.
        """
        import torch

        positive = torch.as_tensor(np.asarray(embedding, dtype=np.float32)).reshape(-1, 1, self.embed_dim)
        if self.guidance > 1.0:
            positive = torch.cat([torch.zeros_like(positive), positive])
        return [positive.to(self.device, self.dtype)]

    def start_image(self, polarity: int) -> np.ndarray:
        """The solid start picture of a cut: black for polarity -1, white for +1, grey for 0.

        Returns
        -------
        np.ndarray [shape=(h, w, 3), uint8]
        """
        width, height = self.size
        value = 0 if polarity < 0 else 255 if polarity > 0 else 128
        return np.full((height, width, 3), value, dtype=np.uint8)

    def schedule_length(self, strength: float) -> int | None:
        """Nominal steps for an img2img pass at ``strength`` so at least ``min_steps`` run.

        img2img runs ``int(n * strength)`` of ``n`` nominal steps. Returns
        ``steps`` when that already gives ``min_steps``, else the smallest
        ``n`` (at most 1000) that does; None when no step would run (the
        frame repeats its start image).
        """
        if strength <= 0.0:
            return None
        n = self.steps
        if int(n * strength) < self.min_steps:
            n = math.ceil(self.min_steps / strength)
            while int(n * strength) < self.min_steps:
                n += 1
        n = min(n, 1000)
        return n if int(n * strength) >= 1 else None


def _embeds_as_given(ip_adapter_image, ip_adapter_image_embeds, device, num_images_per_prompt, do_cfg):
    """Replaces the pipeline's ``prepare_ip_adapter_image_embeds``: precomputed per-item embeddings, unrepeated."""
    return [embeds.to(device) for embeds in ip_adapter_image_embeds]
