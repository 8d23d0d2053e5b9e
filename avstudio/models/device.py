"""Choose the torch device and dtype from manifest strings, and report GPU OOM cleanly.

torch is imported inside the functions: importing this module is free.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from avstudio.errors import ModelError

if TYPE_CHECKING:
    import torch

_DTYPES = {
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float64": "float64",
    "fp64": "float64",
}


def pick_device(spec: str = "auto", *, setting: str = "device") -> str:
    """Turn a device setting into a torch device string that exists here.

    Parameters
    ----------
    spec : str
        ``"auto"`` (CUDA if available, else Apple MPS, else CPU), ``"cpu"``,
        ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    setting : str
        The manifest key the value came from, for messages (e.g. ``"render.device"``).

    Returns
    -------
    str
        ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"cpu"``.

    Raises
    ------
    ModelError
        The device is unknown or not present on this machine.
    """
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available():
            return "mps"
        return "cpu"
    if spec == "cpu":
        return "cpu"
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if match:
        if not torch.cuda.is_available():
            raise ModelError(
                f"{setting} = '{spec}' but this machine has no CUDA device",
                hint=f"set {setting} = 'cpu' or 'auto'",
            )
        index = int(match.group(1) or 0)
        count = torch.cuda.device_count()
        if index >= count:
            raise ModelError(
                f"{setting} = '{spec}' but this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})",
                hint=f"set {setting} = 'cuda' or 'auto'",
            )
        return spec
    if spec == "mps":
        if not _mps_available():
            raise ModelError(
                f"{setting} = 'mps' but this machine has no Apple MPS device", hint=f"set {setting} = 'cpu' or 'auto'"
            )
        return "mps"
    raise ModelError(f"unknown {setting} '{spec}'", hint="use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_dtype(spec: str, device: str, *, setting: str = "dtype") -> torch.dtype:
    """Turn a dtype setting into a torch dtype for ``device``.

    Parameters
    ----------
    spec : str
        ``"auto"`` (float16 on CUDA, float32 on CPU and MPS), ``"float16"``,
        ``"bfloat16"``, ``"float32"`` or ``"float64"`` (``fp16``/``bf16``/``fp32``/``fp64``
        accepted). float64 is slow; on a CPU it makes results exact to the bit
        whatever the batch size (float32 kernels round differently per batch).
    device : str
        The device from :func:`pick_device`.

    Returns
    -------
    torch.dtype
    """
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    if spec not in _DTYPES:
        raise ModelError(f"unknown {setting} '{spec}'", hint="use 'auto', 'float16', 'bfloat16', 'float32' or 'float64'")
    return getattr(torch, _DTYPES[spec])


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float16`` -> ``"float16"`` (for configs recorded in the store)."""
    return str(dtype).removeprefix("torch.")


@contextmanager
def oom_guard(
    what: str = "painting", *, hint: str = "lower render.width/height or encoders.batch_size"
) -> Iterator[None]:
    """Turn a GPU out-of-memory error into a one-line :class:`ModelError`.

    The error leaves the ``with`` block like any other, so a caller that stores
    each finished chunk before the next keeps what was already painted. The
    CUDA cache is emptied so the process can go on.

    Examples
    --------
    >>> with oom_guard("painting frames 100..131"):  # doctest: +SKIP
    ...     frames = pipe(...)
    """
    import torch

    try:
        yield
    except torch.cuda.OutOfMemoryError as error:
        torch.cuda.empty_cache()
        raise ModelError(f"GPU out of memory while {what}", hint=hint) from error
    except RuntimeError as error:
        if "MPS backend out of memory" not in str(error):
            raise
        raise ModelError(f"GPU out of memory while {what}", hint=hint) from error


def gpu_work(params: dict, stage: str) -> str | None:
    """What makes ``stage`` GPU work under the manifest ``params`` (None for CPU-only work).

    ``embed`` with a neural encoder, ``paint``/``evaluate`` with the ``sd15`` renderer.
    """
    enc, render = params.get("encoders", {}), params.get("render", {})
    if stage == "embed":
        neural = [f"encoders.{k} = {enc[k]}" for k in ("audio", "image") if enc.get(k, "builtin") != "builtin"]
        return ", ".join(neural) or None
    if stage in ("paint", "evaluate") and render.get("backend") == "sd15":
        return "render.backend = sd15"
    return None
