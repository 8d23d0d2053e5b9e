"""``features``: per-frame visual features (and audio features when there is sound)."""

from __future__ import annotations

import numpy as np

from avstudio.pipeline.stage import Stage, StageContext


class FeaturesStage(Stage):
    """The five visual features of the original project, plus frame-aligned audio features.

    Store
    -----
    ``/features/avg_color`` [shape=(n, 3), float32] mean R, G, B;
    ``brightness``, ``contrast``, ``mass_fraction``, ``mass`` (count at source
    resolution), ``motion`` (source pixels per frame) [shape=(n,), float32];
    ``/features/audio/{rms,onset,centroid}`` [shape=(n,), float32] when the video has sound.
    """

    name = "features"
    VERSION = 1
    deps = ("extract",)
    params = ("features.*",)
    description = "visual features per frame (colour, brightness, contrast, mass, motion)"

    def run(self, ctx: StageContext) -> None:
        from avstudio.features.visual import VisualFeatureExtractor, nan_check

        chunk = ctx.param("analysis.chunk")
        with ctx.ws.store.read("extract") as ex:
            frames = ex["frames"]
            n = frames.shape[0]
            fps = float(ex.attrs["fps"])
            extractor = VisualFeatureExtractor(
                source_size=(int(ex.attrs["source_width"]), int(ex.attrs["source_height"])),
                mass_range=tuple(ctx.param("features.mass_range")),
                flow_size=ctx.param("features.flow_size"),
            )
            parts: dict[str, list[np.ndarray]] = {}
            for start in range(0, n, chunk):
                values = extractor.update(frames[start:start + chunk])
                for key, arr in values.items():
                    parts.setdefault(key, []).append(arr)
                ctx.progress(min(start + chunk, n), n)
            visual = {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}
            nan_check(visual)
            for key, arr in visual.items():
                ctx.out.create_dataset(key, data=arr)
            audio = ex["audio"]
            sr = int(audio.attrs["sample_rate"])
            if ctx.param("features.audio") and sr and audio.shape[0]:
                from avstudio.features.audio import audio_features

                ctx.log("audio features (rms, onset, centroid)")
                feats = audio_features(audio, sr, fps=fps, n_frames=n)  # read block by block
                group = ctx.out.create_group("audio")
                for key, arr in feats.items():
                    group.create_dataset(key, data=arr.astype(np.float32))
        ctx.out.attrs.update(fps=fps, n_frames=n)
        ctx.log(f"brightness {visual['brightness'].mean():.1f} mean, motion {visual['motion'].mean():.2f} px/frame mean")
