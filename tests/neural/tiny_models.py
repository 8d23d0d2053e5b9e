"""Tiny random models saved in Hugging Face layout, for CPU tests.

Each builder seeds torch, builds a model from a config written here (the way
diffusers' ``get_dummy_components`` and transformers' model testers do), and
saves it with ``save_pretrained`` so the code under test loads it exactly like a
real checkpoint: from a folder, with ``local_files_only=True``. Nothing is
downloaded; the CLIP tokenizer comes from ``tests/neural/tokenizer``.
"""

from __future__ import annotations

import json
from pathlib import Path

TOKENIZER_DIR = Path(__file__).parent / "tokenizer"

CLAP_PROJECTION_DIM = 16
CLAP_MAX_SECONDS = 1
"""The tiny feature extractor's fixed input length (the real one uses 10 s)."""

CLIP_PROJECTION_DIM = 16
CLIP_IMAGE_SIZE = 32

SD_CROSS_ATTENTION_DIM = 32

TINY_UNET = dict(
    block_out_channels=(32, 64),
    layers_per_block=1,
    sample_size=16,
    in_channels=4,
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=SD_CROSS_ATTENTION_DIM,
    attention_head_dim=8,
    norm_num_groups=32,
)

TINY_VAE = dict(
    block_out_channels=(32, 64),
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
    up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
    latent_channels=4,
    layers_per_block=1,
    sample_size=32,
)

SD15_SCHEDULER = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    num_train_timesteps=1000,
    skip_prk_steps=True,
    set_alpha_to_one=False,
    steps_offset=1,
)
"""The scheduler config shipped with Stable Diffusion 1.5 (PNDM)."""


def save_tiny_clap(directory: Path, *, seed: int = 0) -> Path:
    """Save a tiny random ``ClapModel`` and its feature extractor.

    The audio tower keeps the real layout (HTSAT, no fusion) at toy size; the
    feature extractor keeps 48 kHz and 64-bin-style processing but with 16 mel
    bins and a 1 s fixed input so a window costs milliseconds.
    """
    import torch
    from transformers import ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel, ClapTextConfig

    directory = Path(directory)
    torch.manual_seed(seed)
    text = ClapTextConfig(
        vocab_size=99,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
    )
    audio = ClapAudioConfig(
        spec_size=64,
        num_mel_bins=16,
        window_size=4,
        patch_embeds_hidden_size=8,
        hidden_size=16,
        depths=[1, 1],
        num_attention_heads=[1, 2],
        num_hidden_layers=2,
        enable_fusion=False,
    )
    config = ClapConfig(
        text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=CLAP_PROJECTION_DIM
    )
    model = ClapModel(config).eval()
    model.save_pretrained(directory)
    extractor = ClapFeatureExtractor(
        feature_size=16,
        sampling_rate=48_000,
        hop_length=480,
        max_length_s=CLAP_MAX_SECONDS,
        fft_window_size=1024,
        truncation="rand_trunc",
        padding="repeatpad",
    )
    extractor.save_pretrained(directory)
    return directory


def save_tiny_clip_vision(
    directory: Path, *, projection_dim: int = CLIP_PROJECTION_DIM, full_clip: bool = False, seed: int = 0
) -> Path:
    """Save a tiny random CLIP vision tower (with projection) and its preprocessor.

    ``full_clip=True`` saves a whole ``CLIPModel`` (text and vision towers), the
    layout of ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``.
    """
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessorPil,
        CLIPModel,
        CLIPTextConfig,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    directory = Path(directory)
    torch.manual_seed(seed)
    vision = CLIPVisionConfig(
        image_size=CLIP_IMAGE_SIZE,
        patch_size=8,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        projection_dim=projection_dim,
    )
    if full_clip:
        text = CLIPTextConfig(
            hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=200,
            bos_token_id=198, eos_token_id=199, pad_token_id=199,
        )
        config = CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=projection_dim)
        CLIPModel(config).eval().save_pretrained(directory)
    else:
        CLIPVisionModelWithProjection(vision).eval().save_pretrained(directory)
    CLIPImageProcessorPil(
        size={"shortest_edge": CLIP_IMAGE_SIZE},
        crop_size={"height": CLIP_IMAGE_SIZE, "width": CLIP_IMAGE_SIZE},
    ).save_pretrained(directory)
    return directory


def tiny_unet(seed: int = 0):
    """The tiny ``UNet2DConditionModel`` of :func:`save_tiny_sd15`."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(**TINY_UNET)


def save_tiny_sd15(directory: Path, *, seed: int = 0) -> Path:
    """Save a tiny random Stable Diffusion 1.5 pipeline folder (no safety checker)."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    directory = Path(directory)
    unet = tiny_unet(seed)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(**TINY_VAE)
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=198,
            eos_token_id=199,
            pad_token_id=199,
            hidden_size=SD_CROSS_ATTENTION_DIM,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=200,
            max_position_embeddings=77,
        )
    )
    pipe = StableDiffusionPipeline(
        unet=unet.eval(),
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=CLIPTokenizer.from_pretrained(TOKENIZER_DIR),
        scheduler=PNDMScheduler(**SD15_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(directory)
    # list the safety checker and feature extractor as the released model_index.json does
    # (their folders stay absent: avstudio must load without them)
    index_file = directory / "model_index.json"
    index = json.loads(index_file.read_text())
    index.pop("image_encoder", None)
    index.update(
        feature_extractor=["transformers", "CLIPImageProcessor"],
        safety_checker=["stable_diffusion", "StableDiffusionSafetyChecker"],
        requires_safety_checker=True,
    )
    index_file.write_text(json.dumps(index, indent=2))
    return directory


def ip_adapter_state_for(unet, *, image_embed_dim: int, cross_attention_dim: int | None = None, seed: int = 0) -> dict:
    """A random IP-Adapter state dict in ip-adapter_sd15 layout for ``unet``.

    Returns
    -------
    dict
        ``{"image_proj": {"proj.weight", "proj.bias", "norm.weight", "norm.bias"},
        "ip_adapter": {"1.to_k_ip.weight", "1.to_v_ip.weight", "3.to_k_ip.weight", ...}}``:
        one key pair per cross-attention layer, numbered 1, 3, 5, ... in the
        order of the UNet's attention processors, as in the original release.
    """
    import torch

    config = unet.config
    cross = config.cross_attention_dim if cross_attention_dim is None else cross_attention_dim
    generator = torch.Generator().manual_seed(seed)
    tokens = 4

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * 0.1

    image_proj = {
        "proj.weight": rand(tokens * cross, image_embed_dim),
        "proj.bias": rand(tokens * cross),
        "norm.weight": 1.0 + rand(cross),
        "norm.bias": rand(cross),
    }
    ip_adapter = {}
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        block = name.split(".")[0]
        if block == "mid_block":
            hidden = config.block_out_channels[-1]
        elif block == "up_blocks":
            hidden = list(reversed(config.block_out_channels))[int(name.split(".")[1])]
        else:
            hidden = config.block_out_channels[int(name.split(".")[1])]
        ip_adapter[f"{key_id}.to_k_ip.weight"] = rand(hidden, cross)
        ip_adapter[f"{key_id}.to_v_ip.weight"] = rand(hidden, cross)
        key_id += 2
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


def tiny_ip_adapter_state(
    *, image_embed_dim: int = CLIP_PROJECTION_DIM, cross_attention_dim: int = SD_CROSS_ATTENTION_DIM, seed: int = 0
) -> dict:
    """:func:`ip_adapter_state_for` the tiny UNet of :func:`save_tiny_sd15`."""
    return ip_adapter_state_for(
        tiny_unet(), image_embed_dim=image_embed_dim, cross_attention_dim=cross_attention_dim, seed=seed
    )


def save_ip_adapter_state(state: dict, path: Path, *, fmt: str = "safetensors") -> Path:
    """Write an IP-Adapter state as ``.safetensors`` (flat prefixed keys) or ``.bin`` (nested, as released)."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "safetensors":
        flat = {f"{group}.{key}": v.contiguous() for group, values in state.items() for key, v in values.items()}
        save_file(flat, str(path))
    elif fmt == "bin":
        torch.save(state, path)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return path


def save_tiny_ip_adapter(
    path: Path,
    *,
    image_embed_dim: int = CLIP_PROJECTION_DIM,
    cross_attention_dim: int = SD_CROSS_ATTENTION_DIM,
    fmt: str = "safetensors",
    seed: int = 0,
) -> Path:
    """Save :func:`tiny_ip_adapter_state` with :func:`save_ip_adapter_state`."""
    state = tiny_ip_adapter_state(image_embed_dim=image_embed_dim, cross_attention_dim=cross_attention_dim, seed=seed)
    return save_ip_adapter_state(state, path, fmt=fmt)


def save_tiny_lora(directory: Path, *, seed: int = 0, rank: int = 4) -> Path:
    """Save a random LoRA for the tiny UNet, as diffusers' ``save_lora_weights`` writes one
    (``pytorch_lora_weights.safetensors``): the layout of LCM-LoRA and TCD releases."""
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    directory = Path(directory)
    unet = tiny_unet(seed)
    torch.manual_seed(seed + 10)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    StableDiffusionPipeline.save_lora_weights(directory, unet_lora_layers=get_peft_model_state_dict(unet),
                                              safe_serialization=True)
    return directory


def save_foreign_lora(path: Path, *, cross_attention_dim: int = 2048) -> Path:
    """A LoRA file whose cross-attention layers take ``cross_attention_dim`` inputs (2048: SDXL's)."""
    import torch
    from safetensors.torch import save_file

    key = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"
    save_file({f"{key}.lora_A.weight": torch.zeros(4, cross_attention_dim),
               f"{key}.lora_B.weight": torch.zeros(64, 4)}, str(path))
    return Path(path)
