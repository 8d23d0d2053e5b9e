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


MEASURED_SECONDS = 300
"""Longest stretch of the track the loudness is measured on: longer tracks are measured on ten evenly spaced
excerpts of a tenth of it each, so memory stays bounded whatever the video's length."""


def loudness_sample(ds, sample_rate: int) -> np.ndarray:
    """The samples the loudness is measured on [shape=(m, channels), float32]: all of a track up to
    :data:`MEASURED_SECONDS`, else ten evenly spaced excerpts that add up to that long."""
    total = ds.shape[0]
    limit = MEASURED_SECONDS * sample_rate
    if total <= limit:
        return ds[:]
    part = limit // 10
    starts = np.linspace(0, total - part, 10).astype(np.int64)
    return np.concatenate([ds[s:s + part] for s in starts])


class SonifyStage(Stage):
    """Continuous-phase synthesis driven by the ``[sonify]`` mapping table.

    Store
    -----
    ``/sonify/samples`` [shape=(n_samples, channels), float32] at ``sonify.loudness_lufs``
    integrated loudness unless that would peak above ``sonify.peak_db`` (then at that peak),
    ``n_samples = round(n_frames * sample_rate / fps)``; attrs ``sample_rate``, ``duration``,
    ``loudness_lufs`` (measured after the gain; on ten excerpts of tracks over
    :data:`MEASURED_SECONDS`), ``peak_db``; ``/sonify/events`` (frame,
    kind: 0 cut / 1 motion) of the percussive notes. ``outputs/sonify.png`` shows the
    features with the cuts, the parameters they drive and a spectrogram of the result
    (:mod:`avstudio.synth.picture`).
    """

    name = "sonify"
    VERSION = 2
    deps = ("features",)
    params = ("sonify.*",)
    description = "synthesise audio from the features"

    def outputs(self, ws) -> list:
        return [ws.layout.outputs / "sonify.png"]

    def run(self, ctx: StageContext) -> None:
        from avstudio.synth import Synth, SonifyConfig, loudness_gain, peak_gain
        from avstudio.workspace.store import append, chunked_dataset

        from avstudio.media.encode import check_writable

        config = SonifyConfig.from_dict(ctx.ws.manifest.params["sonify"])
        check_writable(self.outputs(ctx.ws)[0])  # before the work: the picture is written on commit
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
        loud_gain, loudness = loudness_gain(loudness_sample(ds, config.sample_rate), config.sample_rate,
                                            target_lufs=config.loudness_lufs)
        limit = peak_gain(peak, peak_db=config.peak_db)
        gain = min(loud_gain, limit) if np.isfinite(loudness) else limit
        if loud_gain > limit and np.isfinite(loudness):
            ctx.warn(f"the peak limit ({config.peak_db:g} dBFS) holds the track at "
                     f"{loudness + 20 * np.log10(gain):.1f} LUFS, below sonify.loudness_lufs = {config.loudness_lufs:g}")
        step = 1 << 20
        for start in range(0, total, step):
            ds[start:start + step] = ds[start:start + step] * np.float32(gain)
        ds.attrs.update(sample_rate=config.sample_rate, channels=config.channels)
        final = loudness + 20 * np.log10(max(gain, 1e-12)) if np.isfinite(loudness) else None
        top = peak * gain
        ctx.out.attrs.update(sample_rate=config.sample_rate, channels=config.channels,
                             n_samples=total, duration=total / config.sample_rate, fps=fps, n_frames=n_frames,
                             loudness_lufs=final if final is not None else float("-inf"),
                             peak_db=20 * np.log10(top) if top > 0 else float("-inf"))
        ctx.out.create_dataset("events", data=np.array(
            [(e.frame, 0 if e.kind == "cut" else 1) for e in synth.events], np.int64).reshape(-1, 2))
        self._picture(ctx, synth, features, ds, fps)
        ctx.log(f"{len(synth.events)} events ({sum(e.kind == 'cut' for e in synth.events)} cuts); "
                f"{total} samples = {total / config.sample_rate:.3f} s at {config.sample_rate} Hz, "
                f"{config.channels} ch, gain {20 * np.log10(max(gain, 1e-12)):+.1f} dB"
                + (f", {final:.1f} LUFS" if final is not None else ""))

    def _picture(self, ctx: StageContext, synth, features, samples, fps: float) -> None:
        """Draw ``outputs/sonify.png`` now; it replaces the old one once the store has the new track."""
        from avstudio.evaluate.sheet import write_png
        from avstudio.synth.picture import sonify_picture

        shown = {k: v for k, v in features.items() if k not in ("avg_color", "mass")}
        image = sonify_picture(shown, synth.frame_params,
                               synth.frame_notes,
                               synth.events, samples, synth.sample_rate, fps=fps)
        ctx.on_commit(lambda: write_png(ctx.ws.layout.outputs / "sonify.png", image))
