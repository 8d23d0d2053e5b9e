"""The painting loop shared by the ``paint`` stage and ``avstudio paint --audio`` (plans from
:meth:`avstudio.painter.bundle.Painter.plan` -> renderer -> spooled chunks), and the early
check that the IP-Adapter can take the image embeddings."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

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
