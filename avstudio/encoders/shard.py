"""Embed on several devices (``encoders.devices``): CLIP frames and CLAP windows split across torchrun workers.

The ``embed`` stage writes a job folder (the encoder spec and options, where
the frames are, the audio track) and launches one worker per device with
:func:`avstudio.models.launch.launch`. Worker ``r`` of ``w`` encodes the
``r``-th contiguous share of the frames (CLIP) or of the CLAP anchor windows
(:meth:`~avstudio.encoders.clap.ClapAudioEncoder.anchor_plan`), reading
frames straight from the committed ``store/extract.h5`` (read-only), and saves
``<kind>-<rank>.npy``. The stage concatenates the shares in rank order (and
spreads CLAP anchors over every frame), so the result is what one device
computes, up to float rounding of other batch compositions.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.models.launch import JOB_FILE, launch

MODULE = "avstudio.encoders.shard"


def share(n: int, rank: int, world: int) -> tuple[int, int]:
    """The contiguous ``[start, stop)`` of ``n`` items that worker ``rank`` of ``world`` takes."""
    return n * rank // world, n * (rank + 1) // world


def embed_on_devices(kind: str, encoder: Any, spec: str, options: dict[str, Any], devices: list[str],
                     job_dir: Path, *,
                     n: int, frames_file: str | None = None, samples: np.ndarray | None = None,
                     sr: int = 0, fps: float = 0.0, cancel: CancelToken = NEVER,
                     progress: Callable[[int, int], None] | None = None,
                     log: Callable[[str], None] = lambda m: None, poll: float = 0.5) -> np.ndarray:
    """Embeddings of every frame, computed by one torchrun worker per device.

    Parameters
    ----------
    kind : {"image", "audio"}
    encoder : ImageEncoder or AudioEncoder
        The same encoder in this process (on the CPU): its name and size, and
        for CLAP the anchor plan the workers share out.
    spec, options : str, dict
        ``encoders.image``/``encoders.audio`` and the constructor options (the device is set per worker).
    n : int
        Frames.
    frames_file : str
        ``image``: the HDF5 file holding ``extract/frames``.
    samples, sr, fps
        ``audio``: the mono track at the encoder's rate, and the video's frame rate.

    Returns
    -------
    np.ndarray [shape=(n, dim), float32]
    """
    job_dir.mkdir(parents=True, exist_ok=True)
    for old in job_dir.glob(f"{kind}-*.npy"):
        old.unlink()
    job = {"kind": kind, "spec": spec, "options": options, "devices": devices, "n": int(n),
           "frames_file": frames_file, "sr": int(sr), "fps": float(fps)}
    if samples is not None:
        np.save(job_dir / "samples.npy", np.asarray(samples, np.float32))
    (job_dir / JOB_FILE).write_text(json.dumps(job, indent=1), encoding="utf-8")

    def done() -> int:
        total = 0
        for path in job_dir.glob("progress-*.txt"):
            try:
                total += int(path.read_text() or 0)
            except (OSError, ValueError):
                continue
        return total

    for stale in job_dir.glob("progress-*.txt"):
        stale.unlink()
    launch(job_dir, devices, MODULE, what="embed", cancel=cancel, log=log, poll=poll,
           on_poll=(lambda: progress(min(done(), n), n)) if progress else (lambda: None))
    parts = [np.load(job_dir / f"{kind}-{rank}.npy") for rank in range(_world(job_dir, kind))]
    encoded = np.concatenate(parts).astype(np.float32)
    if kind == "image":
        return encoded
    anchors, _ = encoder.anchor_plan(n, sr=sr, fps=fps)
    return encoder.spread(anchors, encoded, n)


def _world(job_dir: Path, kind: str) -> int:
    return len(list(job_dir.glob(f"{kind}-*.npy")))


def worker_main(job_dir: Path) -> int:
    """One embed worker: ``python -m torch.distributed.run ... -m avstudio.encoders.shard JOB`` runs this."""
    from avstudio.models.launch import worker_context

    with worker_context(job_dir) as (job, rank, world, device):
        from avstudio.encoders.registry import make_audio_encoder, make_image_encoder

        n, counter = job["n"], job_dir / f"progress-{rank}.txt"
        make = make_image_encoder if job["kind"] == "image" else make_audio_encoder
        encoder = make(job["spec"], **{**job["options"], "device": device})

        def tick(count: int) -> None:
            counter.write_text(str(count))

        if job["kind"] == "image":
            import h5py

            start, stop = share(n, rank, world)
            out = []
            with h5py.File(job["frames_file"], "r", locking=False) as f:
                frames = f["extract/frames"]
                for lo in range(start, stop, 256):
                    out.append(encoder.encode_images(frames[lo:min(lo + 256, stop)]))
                    tick(min(lo + 256, stop) - start)
            dim = encoder.dim
            result = np.concatenate(out) if out else np.zeros((0, dim), np.float32)
        else:
            samples = np.load(job_dir / "samples.npy")
            anchors, starts = encoder.anchor_plan(n, sr=job["sr"], fps=job["fps"])
            lo, hi = share(len(anchors), rank, world)
            scale = n / max(1, len(anchors))
            result = encoder.encode_anchors(samples, starts[lo:hi], sr=job["sr"],
                                            progress=lambda d: tick(int(d * scale)))
        np.save(job_dir / f".{job['kind']}-{rank}.tmp.npy", result.astype(np.float32))
        os.replace(job_dir / f".{job['kind']}-{rank}.tmp.npy", job_dir / f"{job['kind']}-{rank}.npy")
        print(f"[worker {rank}] {device}: {len(result)} {job['kind']} embeddings", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - run by torchrun in a subprocess
    sys.exit(worker_main(Path(sys.argv[1])))
