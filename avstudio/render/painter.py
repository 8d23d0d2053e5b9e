"""The painting loop shared by the ``paint`` stage and ``avstudio paint --audio`` (plans from
:meth:`avstudio.painter.bundle.Painter.plan` -> renderer -> spooled chunks), and the early
check that the IP-Adapter can take the image embeddings."""

from __future__ import annotations

from typing import Any, Callable

from avstudio.cancel import NEVER, CancelToken


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


def paint(plans: list, renderer: Any, *, chunk: int, spool: Any, batch: int = 1, cancel: CancelToken = NEVER,
          progress: Callable[[int, int], None] | None = None, log: Callable[[str], None] | None = None) -> int:
    """Render every plan into ``spool`` in this process, segment by segment, resuming what is spooled.

    Segments (see :mod:`avstudio.render.segments`) start longest first;
    ``batch`` of them are painted side by side when the renderer batches.
    The frames do not depend on ``batch`` or on what was resumed.

    Returns
    -------
    int
        Frames that were already painted (0 for a fresh start).
    """
    from avstudio.render.segments import assign, paint_segments, split

    n = len(plans)
    segments = assign(split(plans), 1)[0]
    if log and spool.painted():
        log(f"resuming: {spool.painted()} of {n} frames are already painted")
    return paint_segments(plans, renderer, spool, segments, batch=batch, chunk=chunk, cancel=cancel,
                          progress=(lambda done: progress(done, n)) if progress else None)
