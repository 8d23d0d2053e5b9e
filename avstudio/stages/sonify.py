"""``sonify``: synthesise audio exactly as long as the video from its visual features."""

from __future__ import annotations

import numpy as np

from avstudio.pipeline.stage import Stage, StageContext


def load_features(group) -> dict[str, np.ndarray]:
    """All per-frame feature arrays of a ``/features`` group (audio ones under ``audio_*``)."""
    out = {k: group[k][:] for k in group if k != "audio"}
    if "audio" in group:
        out.update({k: group["audio"][k][:] for k in group["audio"]})
    return out


class SonifyStage(Stage):
    """Continuous-phase synthesis driven by the ``[sonify]`` mapping table.

    Store
    -----
    ``/sonify/samples`` [shape=(n_samples, channels), float32], peak-normalised,
    ``n_samples = round(n_frames * sample_rate / fps)``; attrs ``sample_rate``, ``duration``.
    """

    name = "sonify"
    VERSION = 1
    deps = ("features",)
    params = ("sonify.*",)
    description = "synthesise audio from the features"

    def run(self, ctx: StageContext) -> None:
        from avstudio.synth import Synth, SonifyConfig, peak_gain
        from avstudio.workspace.store import append, chunked_dataset

        config = SonifyConfig.from_dict(ctx.ws.manifest.params["sonify"])
        with ctx.ws.store.read("features") as fg:
            fps = float(fg.attrs["fps"])
            n_frames = int(fg.attrs["n_frames"])
            features = load_features(fg)
        synth = Synth(features, fps=fps, n_frames=n_frames, config=config)
        total = synth.n_samples
        ds = chunked_dataset(ctx.out, "samples", (config.channels,), np.float32, rows=65536, compression=None)
        peak = 0.0
        for block in synth.iter_chunks(cancel=ctx.cancel):
            append(ds, block)
            peak = max(peak, float(np.abs(block).max(initial=0.0)))
            ctx.progress(ds.shape[0], total, unit="samples")
        gain = peak_gain(peak, peak_db=config.peak_db)
        step = 1 << 20
        for start in range(0, total, step):
            ds[start:start + step] = ds[start:start + step] * np.float32(gain)
        ds.attrs.update(sample_rate=config.sample_rate, channels=config.channels)
        ctx.out.attrs.update(sample_rate=config.sample_rate, channels=config.channels,
                             n_samples=total, duration=total / config.sample_rate, fps=fps, n_frames=n_frames)
        ctx.log(f"{total} samples = {total / config.sample_rate:.3f} s at {config.sample_rate} Hz, "
                f"{config.channels} ch, gain {20 * np.log10(max(gain, 1e-12)):+.1f} dB")
