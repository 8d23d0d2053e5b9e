"""The painting loop shared by the ``paint`` stage and ``avstudio paint --audio``:
audio embeddings -> mapper -> image embeddings -> temporal plan -> renderer -> frames."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from avstudio.cancel import NEVER, CancelToken


def state_extras(states: dict[str, dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Flatten fitted encoder states into checkpoint extras (safetensors holds no 0-d arrays).

    Returns
    -------
    extras : dict
        ``{"<kind>_state.<key>": array}``, scalars stored with shape (1,).
    scalars : list of str
        The extras keys that were scalars (recorded in ``config.json``).
    """
    extras, scalars = {}, []
    for kind, state in states.items():
        for key, value in state.items():
            arr = np.asarray(value)
            name = f"{kind}_state.{key}"
            if arr.ndim == 0:
                scalars.append(name)
                arr = arr.reshape(1)
            extras[name] = arr
    return extras, scalars


def checkpoint_state(ckpt: Any, kind: str) -> dict[str, np.ndarray]:
    """The fitted encoder state saved in a checkpoint (``kind`` is ``audio`` or ``image``)."""
    prefix = f"{kind}_state."
    scalars = set(ckpt.config.get("state_scalars", []))
    return {k[len(prefix):]: (v.reshape(()) if k in scalars else v)
            for k, v in ckpt.extras.items() if k.startswith(prefix)}


def make_renderer(ckpt: Any, manifest: Any, *, size: tuple[int, int], cancel: CancelToken = NEVER):
    """The renderer ``render.backend`` names, set up from a loaded checkpoint."""
    from avstudio.errors import ModelError

    render = manifest.params["render"]
    image = ckpt.config["encoders"]["image"]
    if render["backend"] == "builtin":
        if image["name"] != "builtin-image":
            raise ModelError(
                f"render.backend = 'builtin' needs the built-in image encoder, but the checkpoint uses {image['name']!r}",
                hint="set render.backend = 'sd15', or encoders.image = 'builtin' and retrain",
            )
        from avstudio.encoders.builtin_image import BuiltinImageEncoder
        from avstudio.render.builtin import BuiltinRenderer

        decoder = BuiltinImageEncoder.from_state(checkpoint_state(ckpt, "image"), image["config"])
        return BuiltinRenderer(decoder, size=size, crispness=render["crispness"])
    from avstudio.render.sd15 import SD15Renderer

    return SD15Renderer(
        render["model"], render["ip_adapter"], ip_adapter_scale=render["ip_adapter_scale"],
        prompt=render["prompt"], negative_prompt=render["negative_prompt"], steps=render["steps"],
        guidance=render["guidance"], scheduler=render["scheduler"], seed=render["seed"],
        width=size[0], height=size[1], device=render["device"], dtype=render["dtype"],
        cut_strength=render["cut_strength"], cancel=cancel,
        image_embed_dim=image["dim"], base_dir=str(manifest.path.parent),
    )


def check_render_compatible(manifest: Any) -> None:
    """Refuse, before anything is embedded or trained, image embeddings the IP-Adapter cannot take.

    Only for ``render.backend = 'sd15'``: the image encoder's size (the
    ``projection_dim`` of a CLIP folder's config, or the built-in code size)
    must equal the adapter's image-embedding size. Reads ``config.json`` and the
    adapter's file header only, never weights. A model that cannot be found is
    left for the stage that needs it to report (embed on one machine, paint on
    another is fine).

    Raises
    ------
    ModelError
        One line naming both sizes.
    """
    from avstudio.errors import ModelError
    from avstudio.render.ip_adapter import ip_adapter_embed_dim, resolve_ip_adapter

    render, enc = manifest.params["render"], manifest.params["encoders"]
    if render["backend"] != "sd15":
        return
    base = manifest.path.parent
    try:
        adapter = resolve_ip_adapter(render["ip_adapter"], base=base)
        adapter_dim = ip_adapter_embed_dim(adapter)
        image_dim = _image_encoder_dim(enc, base=base)
    except (ModelError, OSError, ValueError):  # unusable or absent here: the encoder or renderer reports it
        return
    if image_dim != adapter_dim:
        raise ModelError(
            f"encoders.image = '{enc['image']}' gives {image_dim}-d image embeddings "
            f"but the IP-Adapter {adapter.name} (render.ip_adapter) expects {adapter_dim}-d",
            hint="use the image encoder the adapter was trained with (ip-adapter_sd15: encoders.image = "
            "'clip:laion/CLIP-ViT-H-14-laion2B-s32B-b79K', 1024-d), or an adapter made for this encoder",
        )


def _image_encoder_dim(enc: dict[str, Any], *, base: Any) -> int:
    """The size of the embeddings ``encoders.image`` will produce, without loading weights."""
    from avstudio.encoders.registry import make_image_encoder

    spec = enc["image"].strip()
    if not spec.startswith("clip:"):
        return int(make_image_encoder(spec, components=enc["components"], code_size=enc["code_size"]).dim)
    from transformers import CLIPVisionConfig

    from avstudio.models.resolve import quiet_loading, resolve_model

    folder = resolve_model(spec[len("clip:"):].strip(), role="CLIP image encoder", required=("config.json",), base=base)
    with quiet_loading():  # the way ClipImageEncoder reads it (full CLIP folders: the vision tower's config)
        return int(CLIPVisionConfig.from_pretrained(folder, local_files_only=True).projection_dim)


def plan_painting(ckpt: Any, audio_emb: np.ndarray, onset: np.ndarray, temporal: dict[str, Any]):
    """Predicted image embeddings and the temporal plan for every frame.

    Parameters
    ----------
    audio_emb : np.ndarray [shape=(n, d_audio), float32]
    onset : np.ndarray [shape=(n,), float32]
        Onset strength per frame (zeros for silence).

    Returns
    -------
    pred : np.ndarray [shape=(n, d_image), float32]
    plans : list of FramePlan
    """
    from avstudio.mapper.context import mapper_inputs
    from avstudio.mapper.model import MapperConfig
    from avstudio.mapper.train import predict
    from avstudio.render.temporal import TemporalConfig, plan_frames
    from avstudio.stages.train import apply_probe

    pred = predict(ckpt.state_dict, MapperConfig.from_dict(ckpt.config["mapper"]), mapper_inputs(ckpt.config, audio_emb))
    brightness = apply_probe(ckpt.extras["brightness_probe"], pred)
    plans = plan_frames(pred, onset=onset, brightness=brightness, config=TemporalConfig.from_dict(temporal))
    return pred, plans


def paint(plans: list, renderer: Any, *, chunk: int, spool: Any, cancel: CancelToken = NEVER,
          progress: Callable[[int, int], None] | None = None, log: Callable[[str], None] | None = None) -> int:
    """Render every plan into ``spool`` chunk by chunk, resuming after the last chunk on disk.

    Returns
    -------
    int
        The frame index painting resumed from (0 for a fresh start).
    """
    n = len(plans)
    start, previous = spool.resume_point()
    if start and log:
        log(f"resuming at frame {start} of {n} ({start} frames already painted)")
    first = start
    while start < n:
        cancel.check()
        frames = renderer.render(plans[start:start + chunk], previous, start=start)
        spool.write(start, frames)
        previous = frames[-1]
        start += len(frames)
        if progress:
            progress(start, n)
    return first
