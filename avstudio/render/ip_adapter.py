"""IP-Adapter (``ip-adapter_sd15``) weights: find, check shapes cheaply, load safely.

``ip-adapter_sd15`` is released as ``.safetensors`` (flat keys ``image_proj.*``
and ``ip_adapter.*``) and as a pickled ``.bin`` (a nested dict). The
``.safetensors`` header gives every tensor's shape without reading the weights,
so a mismatch between the image encoder and the adapter (ViT-H/14 gives 1024
dims; ``ip-adapter_sd15`` expects 1024) is caught before any model is loaded.
``.bin`` files are read only with ``torch.load(weights_only=True)``: a pickle
that wants to run code is refused, never executed.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from avstudio.errors import ModelError
from avstudio.models.resolve import is_hf_id, resolve_model

DEFAULT_IP_ADAPTER = "h94/IP-Adapter"

WEIGHT_NAMES = (
    "ip-adapter_sd15.safetensors",
    "models/ip-adapter_sd15.safetensors",
    "ip-adapter_sd15.bin",
    "models/ip-adapter_sd15.bin",
)
"""Where the weights sit in a folder, in order of preference (the h94/IP-Adapter layout included)."""

_SETTING = "render.ip_adapter = '/path/to/ip-adapter_sd15.safetensors'"


def resolve_ip_adapter(ref: str, *, base: Path | str | None = None) -> Path:
    """The weight file an IP-Adapter reference names.

    Parameters
    ----------
    ref : str
        A ``.safetensors``/``.bin`` file, a folder holding one of
        :data:`WEIGHT_NAMES` (or exactly one weight file), a Hugging Face id
        (``"h94/IP-Adapter"``), or an id followed by a file inside it
        (``"h94/IP-Adapter/models/ip-adapter_sd15_light.safetensors"``).
    base : path, optional
        Folder relative paths are relative to.

    Returns
    -------
    Path
    """
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = Path(base or ".").expanduser() / path
    if path.is_file():
        return path.resolve()
    parts = ref.split("/")
    if not path.exists() and len(parts) > 2 and is_hf_id("/".join(parts[:2])):
        folder = resolve_model("/".join(parts[:2]), role="IP-Adapter", base=base, setting=_SETTING)
        inner = folder / "/".join(parts[2:])
        if not inner.is_file():
            raise ModelError(f"IP-Adapter file {inner} not found", hint=f"check the file name, or set {_SETTING}")
        return inner
    folder = resolve_model(ref, role="IP-Adapter", base=base, setting=_SETTING)
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    if len(found) == 1:
        return found[0]
    raise ModelError(
        f"no ip-adapter_sd15 weights in {folder} (looked for {', '.join(WEIGHT_NAMES)})",
        hint=f"name the file itself: {_SETTING}",
    )


def _as_file(path: Path | str) -> Path:
    path = Path(path)
    return resolve_ip_adapter(str(path)) if path.is_dir() else path


def ip_adapter_shapes(path: Path | str) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape, keyed ``image_proj.<name>`` / ``ip_adapter.<name>``.

    For ``.safetensors`` only the JSON header is read (a few KB); a ``.bin``
    must be unpickled (safely, memory-mapped).

    Returns
    -------
    dict of str to tuple of int
    """
    path = _as_file(path)
    if path.suffix == ".safetensors":
        try:
            with open(path, "rb") as f:
                (size,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(size))
        except (OSError, struct.error, ValueError) as error:
            raise _unreadable(path, error) from error
        return {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}
    state = load_ip_adapter_state(path)
    return {f"{group}.{k}": tuple(v.shape) for group, values in state.items() for k, v in values.items()}


def ip_adapter_embed_dim(path: Path | str) -> int:
    """The image-embedding size the adapter expects (1024 for ``ip-adapter_sd15``).

    Raises
    ------
    ModelError
        The file is not a plain IP-Adapter (Plus and FaceID variants take CLIP
        hidden states or face embeddings, which this pipeline does not produce).
    """
    return _plain_proj_shape(ip_adapter_shapes(path), path)[1]


def ip_adapter_cross_attention_dim(path: Path | str) -> int:
    """The UNet cross-attention size the adapter was trained for (768 for SD 1.5)."""
    return _plain_proj_shape(ip_adapter_shapes(path), path)[0] // 4


def _plain_proj_shape(shapes: dict[str, tuple[int, ...]], path: Path | str) -> tuple[int, int]:
    shape = shapes.get("image_proj.proj.weight")
    if shape is None or len(shape) != 2:
        raise ModelError(
            f"{path} is not a plain IP-Adapter (no image_proj.proj.weight)",
            hint="use ip-adapter_sd15 (Plus/FaceID variants are not supported)",
        )
    return int(shape[0]), int(shape[1])


def check_embed_dims(image_encoder_dim: int, adapter_dim: int, *, adapter: str = "the IP-Adapter") -> None:
    """Raise before any GPU work when the image embeddings cannot feed the adapter.

    Parameters
    ----------
    image_encoder_dim : int
        Size of the embeddings the renderer will receive (the image encoder's
        ``dim``, which the mapper predicts).
    adapter_dim : int
        :func:`ip_adapter_embed_dim` of the adapter.
    """
    if int(image_encoder_dim) != int(adapter_dim):
        raise ModelError(
            f"image embeddings have {image_encoder_dim} dims but {adapter} expects {adapter_dim}",
            hint=(
                "use the image encoder the adapter was trained with "
                "(ip-adapter_sd15: encoders.image = 'clip:laion/CLIP-ViT-H-14-laion2B-s32B-b79K', 1024 dims) "
                "and retrain the mapper"
            ),
        )


def load_ip_adapter_state(path: Path | str) -> dict[str, dict[str, Any]]:
    """Load adapter weights into the nested dict ``pipe.load_ip_adapter`` takes.

    Parameters
    ----------
    path : path
        A ``.safetensors`` or ``.bin`` file, or a folder holding one.

    Returns
    -------
    dict
        ``{"image_proj": {name: tensor}, "ip_adapter": {name: tensor}}``.

    Raises
    ------
    ModelError
        Unreadable file, unknown layout, or a pickle that needs arbitrary code.
    """
    path = _as_file(path)
    if not path.is_file():
        raise ModelError(f"IP-Adapter weights not found: {path}", hint=f"set {_SETTING}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            flat = load_file(str(path))
        except Exception as error:  # safetensors raises its own error types
            raise _unreadable(path, error) from error
    else:
        flat = _load_pickle_safely(path)
    state: dict[str, dict[str, Any]] = {"image_proj": {}, "ip_adapter": {}}
    for key, value in flat.items():
        if isinstance(value, dict) and key in state:
            state[key].update(value)
            continue
        group, _, name = key.partition(".")
        if group in state and name:
            state[group][name] = value
    if not state["image_proj"] or not state["ip_adapter"]:
        raise ModelError(
            f"{path} does not look like IP-Adapter weights (no image_proj / ip_adapter tensors)",
            hint="use ip-adapter_sd15.safetensors from h94/IP-Adapter",
        )
    return state


def _load_pickle_safely(path: Path) -> dict[str, Any]:
    import pickle

    import torch

    try:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as error:  # files in torch's legacy (pre-zip) format cannot be memory-mapped
            if "mmap" not in str(error):
                raise
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ModelError(
            f"refusing to load {path}: the pickle wants to run code, not just hold tensors",
            hint="use ip-adapter_sd15.safetensors, or convert the .bin to .safetensors on a machine you trust",
        ) from error
    except (OSError, RuntimeError, EOFError) as error:
        raise _unreadable(path, error) from error
    if not isinstance(loaded, dict):
        raise ModelError(
            f"{path} holds a {type(loaded).__name__}, not a dict of weights", hint="use ip-adapter_sd15.safetensors"
        )
    return loaded


def _unreadable(path: Path, error: Exception) -> ModelError:
    return ModelError(f"cannot read IP-Adapter weights {path}: {error}", hint="copy the file again")
