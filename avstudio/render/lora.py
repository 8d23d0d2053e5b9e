"""Few-step LoRAs for Stable Diffusion 1.5 (LCM-LoRA, TCD, Hyper-SD, PCM): find, check cheaply, refuse safely.

A LoRA is checked from its ``.safetensors`` header alone (a few KB, no weights
read): pickled ``.bin``/``.pt``/``.ckpt`` files are refused (they can run code
when loaded), and a LoRA made for another base model is refused by the size of
its cross-attention inputs (768 for SD 1.5, 1024 for SD 2.x, 2048 for SDXL)
before the pipeline loads. diffusers loads and fuses it (through peft).
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from avstudio.errors import ModelError

LORA_NAMES = ("pytorch_lora_weights.safetensors",)
"""The file diffusers' ``save_lora_weights`` writes, preferred inside a folder."""

_SETTING = "render.lora = '/path/to/lcm-lora-sdv1-5'"
_CROSS_KEY = re.compile(r"attn2[._]to_k[._].*(lora[._]down|lora_A)[._]weight$")
_BASES = {768: "Stable Diffusion 1.x", 1024: "Stable Diffusion 2.x", 2048: "SDXL"}

def resolve_lora(ref: str, *, base: Path | str | None = None) -> Path:
    """The ``.safetensors`` file a ``render.lora`` reference names.

    Parameters
    ----------
    ref : str
        A file, a folder holding :data:`LORA_NAMES` or exactly one
        ``.safetensors`` file, or a Hugging Face id in the local cache.
    base : path, optional
        Folder relative paths are relative to (the workspace).

    Raises
    ------
    ModelError
        Missing, ambiguous, or a pickle format.
    """
    from avstudio.models.resolve import resolve_model

    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = Path(base or ".").expanduser() / path
    if not path.exists():
        path = resolve_model(ref, role="LoRA", base=base, setting=_SETTING)
    if path.is_dir():
        named = [path / name for name in LORA_NAMES if (path / name).is_file()]
        found = named or sorted(p for p in path.iterdir() if p.is_file() and p.suffix == ".safetensors")
        if len(found) != 1:
            pickles = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".ckpt"))
            if not found and pickles:
                raise _pickle_error(path / pickles[0])
            raise ModelError(f"{'no' if not found else 'several'} .safetensors LoRA files in {path}",
                             hint=f"name the file itself: {_SETTING}/file.safetensors")
        path = found[0]
    if path.suffix != ".safetensors":
        raise _pickle_error(path)
    return path.resolve()


def _pickle_error(path: Path) -> ModelError:
    return ModelError(f"LoRA {path.name} is not a .safetensors file (pickled weights can run code when loaded)",
                      hint="use the .safetensors release of the LoRA, or convert it once on a trusted machine")


def lora_cross_attention_dim(path: Path) -> int | None:
    """The cross-attention input size a LoRA was trained for, from its header (None if it has no such layer)."""
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
    except (OSError, struct.error, ValueError, UnicodeDecodeError):
        raise ModelError(f"LoRA {path} is not a readable .safetensors file",
                         hint="re-download or re-export the LoRA") from None
    for key, value in header.items():
        if key != "__metadata__" and _CROSS_KEY.search(key):
            return int(value["shape"][-1])
    return None


def check_lora(path: Path, unet_cross_attention_dim: int) -> None:
    """Refuse a LoRA made for another base model than the UNet's.

    Raises
    ------
    ModelError
        One line naming both sizes and the LoRA's likely base model.
    """
    dim = lora_cross_attention_dim(path)
    if dim is not None and dim != unet_cross_attention_dim:
        raise ModelError(
            f"LoRA {path.name} is for {_BASES.get(dim, f'a model with cross-attention size {dim}')}, "
            f"not for render.model ({_BASES.get(unet_cross_attention_dim, unet_cross_attention_dim)})",
            hint="use the SD 1.5 release of the LoRA (e.g. lcm-lora-sdv1-5, TCD-SD15-LoRA)",
        )


def load_lora(pipe, path: Path, *, scale: float = 1.0) -> None:
    """Load a checked LoRA into a diffusers pipeline and fuse it into the UNet.

    Raises
    ------
    ModelError
        peft is missing, or diffusers cannot apply the file (another layout).
    """
    try:
        import peft  # noqa: F401  (diffusers needs it for LoRAs)
    except ImportError:
        raise ModelError("render.lora needs the peft package",
                         hint='pip install "avstudio[neural]" (it includes peft)') from None
    try:
        pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name="fast")
        pipe.fuse_lora(lora_scale=float(scale), adapter_names=["fast"])
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"LoRA {path.name} does not fit render.model: {str(exc).splitlines()[0][:160]}",
                         hint="use a LoRA made for Stable Diffusion 1.5") from None
