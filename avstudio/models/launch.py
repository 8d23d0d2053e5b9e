"""Launch one worker process per device with torchrun, and follow it.

Paint (:mod:`avstudio.render.workers`) and embed (:mod:`avstudio.encoders.shard`)
write a job folder, then :func:`launch` runs ``python -m torch.distributed.run
--standalone --nproc-per-node=K -m <worker module> JOB`` in its own process
group: it forwards the workers' ``[worker N] ...`` lines to the log, polls
for progress, stops the workers on cancel, and turns a failed launch into one
line. Inside a worker, :func:`worker_context` reads torchrun's environment,
picks the device and joins the process group (NCCL on GPUs, gloo on CPUs).

``AVSTUDIO_TORCHRUN`` replaces ``--standalone`` with rendezvous options, so
the same job spans several machines (see the README).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from avstudio.cancel import NEVER, CancelToken
from avstudio.errors import Cancelled, ModelError, StageError

JOB_FILE = "job.json"
LOG_FILE = "workers.log"


def resolve_devices(spec: Any, *, setting: str = "render.devices") -> list[str]:
    """The devices a ``render.devices`` value names, checked against this machine.

    Parameters
    ----------
    spec : "" or "all" or list of str
        ``""``: none (paint in this process on ``render.device``); ``"all"``:
        every CUDA device; a list: those devices, one worker each (a device
        may repeat: two workers share it).

    Returns
    -------
    list of str

    Raises
    ------
    ModelError
        A device this machine does not have, CUDA asked for without CUDA, or
        CPU and CUDA devices mixed.
    """
    from avstudio.models.device import pick_device

    if spec in ("", None):
        return []
    if spec == "all":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ModelError(f'{setting} = "all" but this machine has no CUDA device',
                             hint=f'set {setting} = "" to paint on render.device, or list devices such as ["cpu", "cpu"]')
        return [f"cuda:{i}" for i in range(count)]
    kinds = sorted({name.strip().lower().split(":")[0] for name in spec})
    if len(kinds) > 1:
        raise ModelError(f"{setting} mixes {' and '.join(kinds)} devices ({', '.join(spec)})",
                         hint="use devices of one kind: all GPUs, or all CPU processes")
    devices = []
    for name in spec:
        device = pick_device(name, setting=setting)
        devices.append("cuda:0" if device == "cuda" else device)
    return devices


def torchrun_command(job_dir: Path, workers: int) -> list[str]:
    """The launcher command: torchrun with one process per device on this machine."""
    rendezvous = shlex.split(os.environ.get("AVSTUDIO_TORCHRUN", "")) or ["--standalone"]
    return [sys.executable, "-m", "torch.distributed.run", *rendezvous, f"--nproc-per-node={workers}",
            "--max-restarts=0", "-m", "avstudio.render.workers", str(job_dir)]


def torchrun_command(job_dir: Path, workers: int, module: str) -> list[str]:
    """The launcher command: torchrun with one ``module`` process per device on this machine."""
    rendezvous = shlex.split(os.environ.get("AVSTUDIO_TORCHRUN", "")) or ["--standalone"]
    return [sys.executable, "-m", "torch.distributed.run", *rendezvous, f"--nproc-per-node={workers}",
            "--max-restarts=0", "-m", module, str(job_dir)]


def launch(job_dir: Path, devices: list[str], module: str, *, what: str, cancel: CancelToken = NEVER,
           on_poll: Callable[[], None] = lambda: None, log: Callable[[str], None] = lambda m: None,
           kept: Callable[[], str] = lambda: "", poll: float = 0.5) -> None:
    """Run ``module`` on one worker per device for the job in ``job_dir``; return when all finished.

    Parameters
    ----------
    what : str
        Names the workers in messages ("paint", "embed").
    on_poll : callable
        Called about every ``poll`` seconds while they run (progress), and once at the end.
    kept : callable
        Says what a failed launch leaves for the next run, for the hint.

    Raises
    ------
    StageError
        The launch failed or a worker died.
    Cancelled
        ``cancel`` fired: the workers were stopped.
    """
    log_path = job_dir / LOG_FILE
    log(f"starting {len(devices)} {what} workers ({', '.join(devices)}) with torchrun; job in {job_dir}")
    with open(log_path, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(torchrun_command(job_dir, len(devices), module), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = 0
    try:
        while True:
            finished = proc.poll() is not None
            seen = _forward(log_path, seen, log)
            on_poll()
            if finished:
                break
            if cancel.cancelled:
                _stop(proc)
                raise Cancelled()
            time.sleep(poll)
    except BaseException:
        _stop(proc)
        raise
    if proc.returncode != 0:
        tail = _last_error(log_path)
        raise StageError(f"a {what} worker failed (torchrun exit {proc.returncode}){': ' + tail if tail else ''}",
                         hint=f"{kept() + ': ' if kept() else ''}run again to resume; the workers' log is {log_path}")


def _forward(path: Path, seen: int, log: Callable[[str], None]) -> int:
    """Send the workers' new ``[worker N] ...`` lines to ``log``; returns the bytes read so far."""
    try:
        with open(path, "rb") as f:
            f.seek(seen)
            data = f.read()
    except OSError:
        return seen
    end = data.rfind(b"\n") + 1
    for line in data[:end].decode("utf-8", "replace").splitlines():
        if "[worker " in line:
            log(line[line.index("[worker "):])
    return seen + end


def _last_error(path: Path) -> str:
    """The workers' last error line (a one-line avstudio error, or an exception's last line)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if "error:" in line and "[worker " in line:
            return line[line.index("error:") + len("error:"):].strip()
    for line in reversed(lines):
        if "exitcode" in line or "Signal" in line:
            return line.strip()[:200]
    return ""


def _stop(proc: subprocess.Popen) -> None:
    """Stop the launcher and its workers (their own process group), politely first."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue



@contextmanager
def worker_context(job_dir: Path) -> Iterator[tuple[dict[str, Any], int, int, str]]:
    """Inside a torchrun worker: ``(job, rank, world size, device)``, in the joined process group.

    The device is ``job["devices"][LOCAL_RANK]``. Errors of the avstudio tree
    are printed as one ``[worker N] error: ...`` line (the launcher shows it)
    and end the process with status 1.
    """
    import torch
    import torch.distributed as dist

    from avstudio.errors import AvStudioError

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    job = json.loads((job_dir / JOB_FILE).read_text(encoding="utf-8"))
    devices = job["devices"]
    device = devices[local % len(devices)]
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    (job_dir / f"worker-{rank}.pid").write_text(str(os.getpid()))
    try:
        yield job, rank, world, device
        dist.barrier()
    except AvStudioError as exc:
        print(f"[worker {rank}] error: {exc.one_line()}", flush=True)
        sys.exit(1)
    finally:
        dist.destroy_process_group()
