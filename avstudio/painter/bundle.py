"""One trained painter, one folder: :class:`Painter`.

A painter is everything between a soundtrack and painted frames: the mapper
(audio embeddings -> image embeddings), the fitted states of both encoders,
the polarity head, the frame library (which training frames the retrieval
renderer may show, with their image embeddings and polarity) and what it was
trained on (split, data fingerprints). ``paint``, ``paint --audio``,
``evaluate``, ``compare`` and the TUI previews all call :meth:`Painter.plan`
and :meth:`Painter.renderer`: there is one inference path.

On disk a painter is a checkpoint folder (``config.json``,
``model.safetensors``, ``extras.safetensors``, ``metrics.json``, and
``evaluation.json`` once the evaluate stage has scored it), written
atomically by :mod:`avstudio.mapper.checkpoint`. ``config.json["format"]`` is
:data:`FORMAT`; older folders are refused with a one-line message.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.errors import ModelError
from avstudio.mapper.checkpoint import FORMAT  # 1 was the mapper-only checkpoint before the painter bundle
_RETRAIN = "retrain with `avstudio run train --force`"


def _states_to_arrays(states: dict[str, dict[str, Any]]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Flatten fitted encoder states to ``{"<kind>_state.<key>": array}`` (0-d arrays stored as (1,))."""
    arrays, scalars = {}, []
    for kind, state in states.items():
        for key, value in state.items():
            arr = np.asarray(value)
            name = f"{kind}_state.{key}"
            if arr.ndim == 0:
                scalars.append(name)
                arr = arr.reshape(1)
            arrays[name] = arr
    return arrays, scalars


class Painter:
    """A trained blind painter (see the module docstring).

    Parameters
    ----------
    config : dict
        ``config.json``.
    mapper_state : dict of str to np.ndarray
        Mapper weights.
    arrays : dict of str to np.ndarray
        Encoder states, polarity head and frame library.
    name : str
    path : Path, optional
        The folder it was loaded from or saved to.
    """

    def __init__(self, config: dict[str, Any], mapper_state: dict[str, np.ndarray], arrays: dict[str, np.ndarray],
                 *, name: str = "", path: Path | None = None, metrics: dict[str, Any] | None = None) -> None:
        from avstudio.painter.polarity import PolarityHead
        from avstudio.painter.split import Split

        self.config = config
        self.mapper_state = mapper_state
        self.arrays = arrays
        self.name = name or str(config.get("name", ""))
        self.path = path
        self.metrics = metrics or {}
        self.fps = float(config["fps"])
        self.split = Split.from_dict(config["split"])
        self.head = PolarityHead.from_state(config["polarity"], arrays)

    # ------------------------------------------------------------------ disk
    @classmethod
    def load(cls, path: str | Path) -> Painter:
        """Open a painter folder.

        Raises
        ------
        ModelError
            Missing or broken files, weights that do not match the config, or
            a bundle of another format.
        """
        from avstudio.mapper.checkpoint import load_checkpoint

        path = Path(path)
        ckpt = load_checkpoint(path)
        check_format(ckpt.name, ckpt.config)
        return cls(ckpt.config, ckpt.state_dict, ckpt.extras, name=ckpt.name, path=path, metrics=ckpt.metrics)

    @classmethod
    def pick(cls, root: str | Path, requested: str) -> Painter:
        """Load the painter ``requested`` names (``best``, ``latest``, a name or a unique prefix)."""
        from avstudio.mapper.checkpoint import pick_checkpoint

        return cls.load(pick_checkpoint(root, requested).path)

    def save(self, root: str | Path, name: str) -> Path:
        """Write the folder ``root/name`` atomically and return it."""
        from avstudio.mapper.checkpoint import save_checkpoint

        self.path = save_checkpoint(root, name, state_dict=self.mapper_state, config=self.config,
                                    metrics=self.metrics, extras=self.arrays)
        self.name = name
        self.config["name"] = name
        return self.path

    # ------------------------------------------------------------- encoders
    def encoder(self, kind: str) -> dict[str, Any]:
        """``{"name", "dim", "config"}`` of the ``audio`` or ``image`` encoder it was trained with."""
        return self.config["encoders"][kind]

    def encoder_state(self, kind: str) -> dict[str, np.ndarray]:
        """The fitted state of a built-in encoder (empty for neural ones)."""
        prefix = f"{kind}_state."
        scalars = set(self.config.get("state_scalars", []))
        return {k[len(prefix):]: (v.reshape(()) if k in scalars else v)
                for k, v in self.arrays.items() if k.startswith(prefix)}

    def check_encoders(self, audio: tuple[str, int], image: tuple[str, int]) -> None:
        """Refuse embeddings of other encoders than the painter was trained on (one line)."""
        from avstudio.mapper.checkpoint import check_encoder

        check_encoder(self.name, self.config, "audio", audio)
        check_encoder(self.name, self.config, "image", image)

    def audio_encoder(self, manifest: Any) -> Any:
        """The audio encoder it was trained with, restored (fitted state included)."""
        from avstudio.encoders.registry import make_audio_encoder

        audio = self.encoder("audio")
        if audio["name"] == "builtin-audio":
            from avstudio.encoders.builtin_audio import BuiltinAudioEncoder

            return BuiltinAudioEncoder.from_state(self.encoder_state("audio"), audio["config"])
        enc = manifest.params["encoders"]
        options = {k: audio["config"][k] for k in ("window_seconds", "embed_hop_seconds") if k in audio["config"]}
        return make_audio_encoder(audio["name"], device=enc["device"], batch_size=enc["batch_size"],
                                  base_dir=str(manifest.path.parent), **options)

    # ------------------------------------------------------------- inference
    def predict(self, audio_emb: np.ndarray) -> np.ndarray:
        """Image embeddings [shape=(n, d_image), float32] the mapper predicts for audio embeddings [shape=(n, d_audio)]."""
        from avstudio.mapper.context import mapper_inputs
        from avstudio.mapper.model import MapperConfig
        from avstudio.mapper.train import predict

        return predict(self.mapper_state, MapperConfig.from_dict(self.config["mapper"]),
                       mapper_inputs(self.config, audio_emb))

    def plan(self, audio_emb: np.ndarray, onset: np.ndarray, *, temporal: dict[str, Any], backend: str,
             start: int = 0, stop: int | None = None, initial_polarity: int | None = None,
             max_segment_seconds: float = 0.0) -> list[Any]:
        """Frame plans for frames ``start..stop`` of a soundtrack, with the full temporal logic.

        Parameters
        ----------
        audio_emb : np.ndarray [shape=(n, d_audio), float32]
            Per-frame audio embeddings of the whole soundtrack (the polarity
            head and the onset normalisation look at all of it).
        onset : np.ndarray [shape=(n,), float]
            Raw onset strength per frame.
        temporal : dict
            The manifest's ``[temporal]`` table.
        backend : str
            ``render.backend``; ``"retrieval"`` also chooses the library frame of every plan.
        start, stop : int
            The frames to plan (e.g. the test block).
        initial_polarity : {1, -1}, optional
            The known scene polarity just before ``start``; default: that of the
            training video's first frame.
        max_segment_seconds : float
            ``sd15``: a keyframe cut after this many seconds without a cut
            (``render.max_segment_seconds``; see :mod:`avstudio.render.segments`).

        Returns
        -------
        list of FramePlan
        """
        from avstudio.render.temporal import TemporalConfig, onset_normalise, plan_frames

        n = len(audio_emb)
        stop = n if stop is None else min(stop, n)
        if initial_polarity is None:
            initial_polarity = int(self.arrays["library.polarity"][0])
        pred = self.predict(audio_emb)[start:stop]
        polarity = self.head.predict(audio_emb, fps=self.fps, start=start, stop=stop, initial=initial_polarity)
        onset_n = onset_normalise(onset[:n])[start:stop]
        plans = plan_frames(pred, onset=onset_n, polarity=polarity, config=TemporalConfig.from_dict(temporal),
                            normalised=True)
        if backend == "sd15":
            from avstudio.render.segments import add_keyframes

            return add_keyframes(plans, int(round(max_segment_seconds * self.fps)))
        if backend != "retrieval":
            return plans
        return self._retrieve(plans, self.audio_codes(audio_emb)[start:stop])

    def audio_codes(self, audio_emb: np.ndarray) -> np.ndarray:
        """The mapper's audio input projected on the library's audio axes [shape=(n, k), float32]."""
        from avstudio.mapper.context import mapper_inputs

        x = mapper_inputs(self.config, audio_emb)
        return ((x - self.arrays["library.audio_mean"]) @ self.arrays["library.audio_axes"]).astype(np.float32)

    def _retrieve(self, plans: list[Any], audio_codes: np.ndarray) -> list[Any]:
        from avstudio.painter.retrieval import PathConfig, choose_path, successors

        frames = self.arrays["library.frames"]
        config = PathConfig(**self.config.get("retrieval", {}))
        path = choose_path(np.stack([p.embedding for p in plans]), self.arrays["library.embeddings"],
                           library_polarity=self.arrays["library.polarity"],
                           polarity=np.array([p.polarity for p in plans]), cuts=np.array([p.cut for p in plans]),
                           successor=successors(frames), audio=(audio_codes, self.arrays["library.audio"]),
                           loop_frames=int(round(config.loop_seconds * self.fps)), config=config)
        sources = frames[path]
        jumps = np.r_[True, sources[1:] != sources[:-1] + 1]
        return [replace(p, source=int(s), jump=bool(j)) for p, s, j in zip(plans, sources, jumps)]

    def renderer(self, render: dict[str, Any], *, size: tuple[int, int], frames: Any = None,
                 base_dir: str | None = None, cancel: CancelToken = NEVER) -> Any:
        """The renderer ``render.backend`` names, set up for this painter.

        Parameters
        ----------
        render : dict
            The manifest's ``[render]`` table.
        size : tuple of int
            Output ``(width, height)``.
        frames : sliceable [shape=(N, h, w, 3), uint8], optional
            The training video's frames (the store's ``extract/frames``); the
            retrieval renderer shows them.
        """
        backend = render["backend"]
        image = self.encoder("image")
        if backend == "retrieval":
            from avstudio.painter.retrieval import RetrievalRenderer

            if frames is None:
                raise ModelError("the retrieval renderer needs the training video's frames",
                                 hint="run `avstudio run extract` in the workspace the painter was trained in")
            self.check_library(frames)
            return RetrievalRenderer(frames, size)
        if backend in ("decoder", "builtin"):
            if image["name"] != "builtin-image":
                raise ModelError(
                    f"render.backend = '{backend}' needs the built-in image encoder, but the checkpoint uses "
                    f"{image['name']!r}", hint="set render.backend = 'retrieval' or 'sd15', "
                    "or encoders.image = 'builtin' and retrain")
            from avstudio.encoders.builtin_image import BuiltinImageEncoder
            from avstudio.render.builtin import BuiltinRenderer

            decoder = BuiltinImageEncoder.from_state(self.encoder_state("image"), image["config"])
            return BuiltinRenderer(decoder, size=size, crispness=render["crispness"])
        from avstudio.render.sd15 import SD15Renderer

        return SD15Renderer(**self.sd15_settings(render, size=size, base_dir=base_dir), cancel=cancel)

    def sd15_settings(self, render: dict[str, Any], *, size: tuple[int, int], base_dir: str | None) -> dict[str, Any]:
        """The keyword arguments of :class:`~avstudio.render.sd15.SD15Renderer` for ``[render]`` (JSON-ready:
        paint workers in other processes build the same renderer from them)."""
        return dict(
            model_ref=render["model"], ip_adapter=render["ip_adapter"], ip_adapter_scale=render["ip_adapter_scale"],
            prompt=render["prompt"], negative_prompt=render["negative_prompt"], steps=render["steps"],
            guidance=render["guidance"], scheduler=render["scheduler"], seed=render["seed"],
            width=size[0], height=size[1], device=render["device"], dtype=render["dtype"],
            cut_strength=render["cut_strength"], lora=render["lora"], lora_scale=render["lora_scale"],
            batch=render["batch"], image_embed_dim=self.encoder("image")["dim"], base_dir=base_dir)

    def check_library(self, frames: Any) -> None:
        """Refuse a frame store that is not the one the painter was trained on."""
        want = self.config["library"]
        if len(frames) != want["n_video_frames"] or tuple(frames.shape[1:3]) != tuple(want["frame_shape"]):
            raise ModelError(
                f"checkpoint {self.name} was trained on {want['n_video_frames']} frames of "
                f"{want['frame_shape'][1]}x{want['frame_shape'][0]}, the store has {len(frames)} of "
                f"{frames.shape[2]}x{frames.shape[1]}", hint=_RETRAIN)

    def render_all(self, plans: list[Any], renderer: Any, *, start: int = 0, chunk: int = 64,
                   cancel: CancelToken = NEVER) -> np.ndarray:
        """Paint plans in memory (short blocks such as the test block) [shape=(n, h, w, 3), uint8]."""
        out, previous = [], None
        for lo in range(0, len(plans), chunk):
            cancel.check()
            block = renderer.render(plans[lo:lo + chunk], previous, start=start + lo)
            out.append(block)
            previous = block[-1]
        width, height = renderer.size
        return np.concatenate(out) if out else np.zeros((0, height, width, 3), np.uint8)


def check_format(name: str, config: dict[str, Any]) -> None:
    """Refuse a bundle of another format (one line naming both)."""
    from avstudio.mapper.checkpoint import format_problem

    problem = format_problem(config)
    if problem is not None:
        raise ModelError(f"checkpoint {name} is {problem[0]}", hint=problem[1])


def fit_painter(data: dict[str, Any], *, brightness: np.ndarray, split: Any, train_config: Any,
                context_seconds: float, fingerprints: dict[str, str], frame_shape: tuple[int, int],
                on_epoch: Callable[..., None] | None = None, cancel: CancelToken = NEVER,
                log: Callable[[str], None] = lambda m: None) -> Painter:
    """Train a painter on the training block, choosing everything on the validation block.

    Parameters
    ----------
    data : dict
        :func:`avstudio.painter.data.read_embeddings`.
    brightness : np.ndarray [shape=(n,), float]
        Mean brightness of every true frame (polarity labels: light at >= 128).
    split : Split
    train_config : TrainConfig
    context_seconds : float
        ``encoders.context_seconds``.
    fingerprints : dict
        ``{"data": ..., "extract": ...}`` of the store it was trained on.
    frame_shape : (int, int)
        ``(height, width)`` of the store's frames.

    Returns
    -------
    Painter
        Not yet saved; ``metrics`` holds the training history.
    """
    from avstudio.mapper.context import add_context
    from avstudio.mapper.train import train_mapper
    from avstudio.painter.polarity import fit_polarity_head, light_or_dark
    from avstudio.painter.retrieval import PathConfig

    fps = float(data["fps"])
    audio, image = data["audio"]["emb"], data["image"]["emb"]
    inputs = add_context(audio, fps=fps, seconds=context_seconds)
    train_idx, val_idx = split.indices("train"), split.indices("val")
    result = train_mapper(inputs, image, config=train_config, split=(train_idx, val_idx), on_epoch=on_epoch,
                          cancel=cancel)
    log(f"best epoch {result.best_epoch} of {len(result.history)}: validation loss {result.best_val_loss:.4f}"
        + (" (stopped early)" if result.stopped_early else ""))
    truth = light_or_dark(brightness)
    head = fit_polarity_head(audio, truth, fps=fps, split=split, log=log)
    arrays, scalars = _states_to_arrays({k: data[k]["state"] for k in ("audio", "image")})
    arrays.update(head.arrays())
    arrays["library.frames"] = train_idx
    arrays["library.embeddings"] = image[train_idx].astype(np.float32)
    arrays["library.polarity"] = truth[train_idx]
    arrays.update(_audio_axes(inputs[train_idx]))
    config = {
        "format": FORMAT,
        "mapper": result.mapper_config.to_dict(),
        "train": result.train_config.to_dict(),
        "encoders": {k: {"name": data[k]["name"], "dim": data[k]["dim"], "config": data[k]["config"]}
                     for k in ("audio", "image")},
        "state_scalars": scalars,
        "fps": fps,
        "context_seconds": float(context_seconds),
        "split": split.to_dict(),
        "polarity": head.config(),
        "retrieval": asdict(PathConfig()),
        "library": {"n_video_frames": int(split.n), "frame_shape": list(frame_shape), "block": "train"},
        "data_fingerprint": fingerprints["data"],
        "extract_fingerprint": fingerprints.get("extract"),
        "best_epoch": result.best_epoch,
        "best_val_loss": float(result.best_val_loss),
        "selection_loss": selection_loss(result, inputs, image, val_idx),
        "best": False,
        "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)),
        "n_test": int(split.test[1] - split.test[0]),
    }
    return Painter(config, result.state_dict, arrays, metrics={"history": result.history})


def _audio_axes(x: np.ndarray, k: int = 32) -> dict[str, np.ndarray]:
    """Principal axes of the library's audio inputs and its codes on them (retrieval's audio target)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    axes = vt[:min(k, len(vt))].T
    return {"library.audio_mean": mean.astype(np.float32), "library.audio_axes": axes.astype(np.float32),
            "library.audio": ((x - mean) @ axes).astype(np.float32)}


def selection_loss(result: Any, inputs: np.ndarray, image: np.ndarray, val_idx: np.ndarray) -> float:
    """Validation loss with fixed weights (cosine 1, MSE 1): comparable across training params."""
    from avstudio.mapper.train import predict

    pred = predict(result.state_dict, result.mapper_config, inputs[val_idx]).astype(np.float64)
    true = image[val_idx].astype(np.float64)
    cos = np.sum(pred * true, axis=1) / np.maximum(np.linalg.norm(pred, axis=1) * np.linalg.norm(true, axis=1), 1e-8)
    return float(np.mean(1.0 - cos) + np.mean((pred - true) ** 2))
