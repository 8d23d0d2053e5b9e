"""``features``: per-frame visual features (and audio features when there is sound)."""

from __future__ import annotations

import numpy as np

from avstudio.pipeline.stage import Stage, StageContext


def make_extractor(ws, source_size: tuple[int, int]):
    """The visual feature extractor the manifest's ``[features]`` table describes."""
    from avstudio.features.visual import VisualFeatureExtractor

    return VisualFeatureExtractor(source_size=(int(source_size[0]), int(source_size[1])),
                                  mass_range=tuple(ws.manifest.get("features.mass_range")),
                                  flow_size=ws.manifest.get("features.flow_size"))


class FeaturesStage(Stage):
    """The five visual features of the original project, plus frame-aligned audio features.

    Store
    -----
    ``/features/avg_color`` [shape=(n, 3), float32] mean R, G, B;
    ``brightness``, ``contrast``, ``mass_fraction``, ``mass`` (count at source
    resolution), ``motion`` (the speed of what moves, source pixels per frame; see
    :func:`avstudio.features.visual.motion_speed`) [shape=(n,), float32];
    ``/features/audio/{rms,onset,centroid}`` [shape=(n,), float32] when the video has sound.
    """

    name = "features"
    VERSION = 2
    deps = ("extract",)
    params = ("features.*",)
    description = "visual features per frame (colour, brightness, contrast, mass, motion)"

    def run(self, ctx: StageContext) -> None:
        from avstudio.features.visual import nan_check
        from avstudio.stages.extract import memo_key

        with ctx.ws.store.read("extract") as ex:
            n = ex["frames"].shape[0]
            fps = float(ex.attrs["fps"])
            memo = ex.get("visual_memo")
            if memo is not None and memo.attrs.get("key") == memo_key(ctx.ws):
                ctx.log("visual features computed during extract (same params)")
                visual = {k: memo[k][:] for k in memo}
                ctx.progress(n, n, force=True)
            else:
                visual = self._from_frames(ctx, ex)
            nan_check(visual)
            for key, arr in visual.items():
                ctx.out.create_dataset(key, data=arr)
            audio = ex["audio"]
            sr = int(audio.attrs["sample_rate"])
            if ctx.param("features.audio") and sr and audio.shape[0]:
                from avstudio.features.audio import frame_features, hop_features

                ctx.log("audio features (rms, onset, centroid)")
                memo_hops = ex.get("audio_hops")
                if memo_hops is not None and memo_hops.attrs.get("key") == memo_key(None):
                    hops = {"sr": int(memo_hops.attrs["sr"]), "duration": float(memo_hops.attrs["duration"]),
                            **{k: memo_hops[k][:] for k in memo_hops}}
                else:
                    hops = hop_features(audio, sr)  # read block by block
                feats = frame_features(hops, fps=fps, n_frames=n)
                group = ctx.out.create_group("audio")
                for key, arr in feats.items():
                    group.create_dataset(key, data=arr.astype(np.float32))
        ctx.out.attrs.update(fps=fps, n_frames=n)
        ctx.log(f"brightness {visual['brightness'].mean():.1f} mean, motion {visual['motion'].mean():.2f} px/frame mean")

    @staticmethod
    def _from_frames(ctx: StageContext, ex) -> dict[str, np.ndarray]:
        """Visual features from the frames in the store, chunk by chunk."""
        frames = ex["frames"]
        n, chunk = frames.shape[0], ctx.param("analysis.chunk")
        extractor = make_extractor(ctx.ws, (ex.attrs["source_width"], ex.attrs["source_height"]))
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, n, chunk):
            for key, arr in extractor.update(frames[start:start + chunk]).items():
                parts.setdefault(key, []).append(arr)
            ctx.progress(min(start + chunk, n), n)
        return {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}
