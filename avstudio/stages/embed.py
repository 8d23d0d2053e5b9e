"""``embed``: audio and image embeddings per frame, with the encoders chosen in ``[encoders]``.

Store
-----
``/embed/audio/<key>/embeddings`` [shape=(n, d_audio), float32] and
``/embed/image/<key>/embeddings`` [shape=(n, d_image), float32], one group per
encoder (``key`` is the encoder name made path-safe) with attrs ``name``,
``dim``, ``config`` (JSON) and ``cache_key``, and the fitted state of built-in
encoders under ``state/``. Groups of other encoders from earlier runs are kept,
so switching ``encoders.*`` back and forth reuses their embeddings.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from avstudio.painter.data import group_key
from avstudio.pipeline.fingerprint import fingerprint
from avstudio.pipeline.stage import Stage, StageContext


def save_state(group: Any, state: dict[str, Any]) -> None:
    sg = group.create_group("state")
    for key, value in state.items():
        sg.create_dataset(key, data=np.asarray(value))


def encoder_options(manifest: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The constructor options of the audio and image encoders the manifest names."""
    enc = manifest.params["encoders"]
    neural = {"device": enc["device"], "batch_size": enc["batch_size"], "base_dir": str(manifest.path.parent)}
    audio = {"window_seconds": enc["window_seconds"], **(neural if enc["audio"] != "builtin" else {})}
    image = neural if enc["image"] != "builtin" else {"components": enc["components"], "code_size": enc["code_size"]}
    return audio, image


def make_encoders(manifest: Any, *, device: str | None = None):
    """The audio and image encoders the manifest names (not yet fitted); ``device`` overrides the neural ones'."""
    from avstudio.encoders.registry import make_audio_encoder, make_image_encoder

    audio, image = encoder_options(manifest)
    for options in (audio, image):
        if device and "device" in options:
            options["device"] = device
    enc = manifest.params["encoders"]
    return make_audio_encoder(enc["audio"], **audio), make_image_encoder(enc["image"], **image)


class EmbedStage(Stage):
    """Fits the built-in encoders on the training block (never on validation or test) and embeds every frame."""

    name = "embed"
    VERSION = 2
    deps = ("extract", "features")
    params = ("encoders.audio", "encoders.image", "encoders.window_seconds", "encoders.components",
              "encoders.code_size", "train.val_fraction", "train.test_fraction", "train.gap_frames")
    """``encoders.device``, ``encoders.devices`` and ``encoders.batch_size`` change the speed only."""
    description = "audio and image embeddings per frame"

    def run(self, ctx: StageContext) -> None:
        from avstudio.encoders.windows import embed_audio
        from avstudio.media.audio import resample
        from avstudio.render.painter import check_render_compatible

        from avstudio.models.launch import resolve_devices

        check_render_compatible(ctx.ws.manifest)  # before embedding what the renderer could not paint
        devices = resolve_devices(ctx.param("encoders.devices"), setting="encoders.devices")
        # with workers, this process keeps a CPU copy for names, sizes and the CLAP window plan
        audio_enc, image_enc = make_encoders(ctx.ws.manifest, device="cpu" if devices else None)
        sharded = self._sharded(ctx, devices)
        old = self._previous_groups(ctx)
        upstream = {d: fingerprint(ctx.ws.parts(d)) for d in self.deps}
        with ctx.ws.store.read("extract") as ex:
            n = int(ex.attrs["n_frames"])
            fps = float(ex.attrs["fps"])
            from avstudio.painter.split import split_for

            n_train = split_for(n, fps=fps, train=ctx.ws.manifest.params["train"],
                                window_seconds=ctx.param("encoders.window_seconds")).train[1]
            ctx.out.attrs.update(n_frames=n, fps=fps, n_train=n_train)
            common = {"upstream": upstream, "n_train": n_train}

            # image embeddings
            key = self._cache_key(image_enc, common)
            group = ctx.out.require_group("image")
            if not self._reuse(ctx, old, "image", image_enc.name, key):
                frames = ex["frames"]
                if hasattr(image_enc, "fit"):
                    ctx.log(f"fitting {image_enc.name} on {n_train} training frames")
                    image_enc.fit(frames[:n_train])
                if sharded and ctx.param("encoders.image").startswith("clip:"):
                    emb = sharded("image", image_enc, frames_file=str(ctx.ws.layout.stage_file("extract")))
                else:
                    emb = self._embed_frames(ctx, image_enc, frames, n)
                self._write(group, image_enc, emb, key)

            # audio embeddings
            audio = ex["audio"]
            sr = int(audio.attrs["sample_rate"])
            samples = audio[:] if sr else np.zeros(0, np.float32)
        key = self._cache_key(audio_enc, common)
        group = ctx.out.require_group("audio")
        if not self._reuse(ctx, old, "audio", audio_enc.name, key):
            if not sr or not samples.size:
                ctx.warn("the video has no audio track: audio embeddings are those of silence")
                sr = audio_enc.sample_rate
                samples = np.zeros(int(round(n / fps * sr)), np.float32)
            if sr != audio_enc.sample_rate:
                samples = resample(samples, sr, audio_enc.sample_rate)
                sr = audio_enc.sample_rate
            if sharded and ctx.param("encoders.audio").startswith("clap:"):
                emb = sharded("audio", audio_enc, samples=samples, sr=sr, fps=fps)
            else:
                emb = embed_audio(audio_enc, samples, sr, fps=fps, n_frames=n, n_fit=n_train,
                                  cancel=ctx.cancel, progress=lambda d: ctx.progress(d, n, unit="windows"))
            self._write(group, audio_enc, emb, key)
        self._copy_others(ctx, old)
        ctx.out.attrs.update(audio=audio_enc.name, image=image_enc.name)
        ctx.log(f"audio {audio_enc.name} -> {audio_enc.dim}-d, image {image_enc.name} -> {image_enc.dim}-d")

    # -- helpers --------------------------------------------------------------------
    @staticmethod
    def _sharded(ctx: StageContext, devices: list[str]) -> Any:
        """``embed(kind, encoder, **data)`` on one torchrun worker per device, or None without ``encoders.devices``."""
        if not devices:
            return None
        from avstudio.encoders.shard import embed_on_devices

        audio_opts, image_opts = encoder_options(ctx.ws.manifest)
        job_dir = ctx.ws.layout.tmp_dir / "embed-workers"
        with ctx.ws.store.read("extract") as ex:
            n = int(ex.attrs["n_frames"])

        def embed(kind: str, encoder: Any, **data: Any) -> np.ndarray:
            try:
                return embed_on_devices(kind, encoder, ctx.param(f"encoders.{kind}"),
                                        audio_opts if kind == "audio" else image_opts, devices, job_dir, n=n,
                                        cancel=ctx.cancel, log=ctx.log,
                                        progress=lambda d, t: ctx.progress(d, t, unit="frames"), **data)
            finally:
                import shutil

                shutil.rmtree(job_dir, ignore_errors=True)

        return embed

    @staticmethod
    def _cache_key(enc: Any, common: dict[str, Any]) -> str:
        return fingerprint({"name": enc.name, "config": enc.config, **common})

    def _embed_frames(self, ctx: StageContext, enc: Any, frames: Any, n: int) -> np.ndarray:
        out = []
        step = 256
        for start in range(0, n, step):
            out.append(enc.encode_images(frames[start:start + step]))
            ctx.progress(min(start + step, n), n)
        return np.concatenate(out).astype(np.float32)

    @staticmethod
    def _write(group: Any, enc: Any, emb: np.ndarray, key: str) -> None:
        g = group.create_group(group_key(enc.name))
        g.create_dataset("embeddings", data=emb.astype(np.float32))
        g.attrs.update(name=enc.name, dim=int(enc.dim), config=json.dumps(enc.config), cache_key=key)
        if hasattr(enc, "state_dict"):
            save_state(g, enc.state_dict())

    def _previous_groups(self, ctx: StageContext) -> dict[tuple[str, str], str]:
        """``{(kind, group): cache_key}`` of the committed embed output, if any."""
        if not ctx.ws.store.has(self.name):
            return {}
        found = {}
        with ctx.ws.store.read(self.name) as g:
            for kind in ("audio", "image"):
                for name in g.get(kind, {}):
                    found[(kind, name)] = str(g[kind][name].attrs.get("cache_key", ""))
        return found

    def _reuse(self, ctx: StageContext, old: dict, kind: str, name: str, key: str) -> bool:
        if old.get((kind, group_key(name))) != key:
            return False
        import h5py

        with h5py.File(ctx.ws.layout.stage_file(self.name), "r", locking=False) as f:
            f.copy(f[f"{self.name}/{kind}/{group_key(name)}"], ctx.out[kind], name=group_key(name))
        ctx.log(f"reused cached {kind} embeddings of {name}")
        return True

    def _copy_others(self, ctx: StageContext, old: dict) -> None:
        """Keep other encoders' embeddings from the previous output (a cache across switches)."""
        import h5py

        todo = [(k, g) for (k, g) in old if g not in ctx.out[k]]
        if not todo:
            return
        with h5py.File(ctx.ws.layout.stage_file(self.name), "r", locking=False) as f:
            for kind, name in todo:
                f.copy(f[f"{self.name}/{kind}/{name}"], ctx.out[kind], name=name)
