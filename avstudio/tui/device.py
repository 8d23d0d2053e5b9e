"""Which device runs will use, for the header, without importing torch in the TUI.

:func:`quick_device` looks at the machine (driver files; microseconds) so the first paint
has an answer; :func:`torch_device` asks torch in a child process (a second or two, run in
a worker) to confirm it, e.g. that the installed torch build actually has CUDA.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
from pathlib import Path

_PROBE = (
    "import json, torch\n"
    "mps = getattr(torch.backends, 'mps', None)\n"
    "print(json.dumps({'torch': torch.__version__, 'cuda': torch.cuda.is_available(),\n"
    "  'count': torch.cuda.device_count() if torch.cuda.is_available() else 0,\n"
    "  'name': torch.cuda.get_device_name(0) if torch.cuda.is_available() else '',\n"
    "  'mps': bool(mps and mps.is_available())}))\n"
)


def _gpu_names(proc: Path = Path("/proc/driver/nvidia/gpus")) -> list[str]:
    names = []
    for info in sorted(proc.glob("*/information")):
        try:
            for line in info.read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    names.append(line.split(":", 1)[1].strip())
        except OSError:
            continue
    return names


def _cuda_hidden() -> bool:
    return os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1")


def quick_device() -> str:
    """``cuda (NVIDIA H100 80GB HBM3)``, ``cuda``, ``mps`` or ``cpu``, from the machine alone."""
    if not _cuda_hidden():
        names = _gpu_names()
        if names:
            extra = f" ×{len(names)}" if len(names) > 1 else ""
            return f"cuda ({names[0]}{extra})"
        if Path("/dev/nvidia0").exists():
            return "cuda"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


async def torch_device(*, timeout: float = 60.0) -> str:
    """The device torch will pick (``auto``), asked in a child process.

    Async so the TUI can quit at once while torch is still importing (the child is killed).

    Returns
    -------
    str
        e.g. ``cuda (NVIDIA H100 80GB HBM3)``, ``mps``, ``cpu``, or
        ``cpu (torch 2.4.0+cpu has no CUDA)`` when a GPU is present but torch cannot use it.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _PROBE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    except OSError:
        return quick_device()
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    return device_label(out.decode(errors="replace"), guess=quick_device())


def device_label(probe_output: str, *, guess: str) -> str:
    """The header's device label from the probe's JSON line (``guess`` if it has none)."""
    try:
        info = json.loads(probe_output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return guess
    if info.get("cuda"):
        extra = f" ×{info['count']}" if info.get("count", 1) > 1 else ""
        return f"cuda ({info.get('name') or 'GPU'}{extra})"
    if info.get("mps"):
        return "mps"
    if guess.startswith("cuda"):
        return f"cpu (torch {info.get('torch', '?')} has no CUDA)"
    return "cpu"
