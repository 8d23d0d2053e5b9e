"""CLIP image embeddings (``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``), batched, offline.

The embedding is ``CLIPVisionModelWithProjection(...).image_embeds`` - the
projected, *not* normalised, pooled output - because that is exactly what
IP-Adapter (``ip-adapter_sd15``) was trained on: the mapper learns to predict
it and :class:`~avstudio.render.sd15.SD15Renderer` feeds the prediction to the
adapter unchanged. Preprocessing is ``CLIPImageProcessorPil`` (resize the short
side, centre crop, CLIP mean/std), which needs no torchvision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.errors import ModelError
from avstudio.models.device import dtype_name, oom_guard, pick_device, pick_dtype
from avstudio.models.resolve import quiet_loading, resolve_model

DEFAULT_MODEL = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


class ClipImageEncoder:
    """RGB frames -> CLIP image embeddings.

    Parameters
    ----------
    model_ref : str
        Local folder or Hugging Face id of a CLIP checkpoint (full CLIP or vision
        tower only) with ``preprocessor_config.json``.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    batch_size : int
        Frames per forward pass.
    dtype : str
        Model dtype; ``"float32"`` by default (the embeddings are the mapper's
        training targets).
    base_dir : path, optional
        Folder relative model paths are relative to (the workspace).

    Attributes
    ----------
    name : str
        ``"clip:<model_ref>"``.
    dim : int
        ``projection_dim`` of the checkpoint (1024 for ViT-H/14).
    """

    def __init__(
        self,
        model_ref: str = DEFAULT_MODEL,
        *,
        device: str = "auto",
        batch_size: int = 64,
        dtype: str = "float32",
        base_dir: Any = None,
    ) -> None:
        from transformers import CLIPImageProcessorPil, CLIPVisionModelWithProjection

        folder = resolve_model(
            model_ref,
            role="CLIP image encoder",
            required=("config.json", "preprocessor_config.json", "model.safetensors|pytorch_model.bin"),
            base=base_dir,
            setting="encoders.image = 'clip:/path/to/folder'",
        )
        self.device = pick_device(device, setting="encoders.device")
        self.dtype = pick_dtype(dtype, self.device, setting="encoders.dtype")
        with quiet_loading():
            self.processor = CLIPImageProcessorPil.from_pretrained(folder, local_files_only=True)
            model = CLIPVisionModelWithProjection.from_pretrained(folder, local_files_only=True, dtype=self.dtype)
        self.model = model.to(self.device).eval()
        self.batch_size = max(1, int(batch_size))
        self.dim = int(model.config.projection_dim)
        self.name = f"clip:{model_ref}"
        self.config: dict[str, Any] = {"model": model_ref, "dtype": dtype_name(self.dtype)}

    def encode_images(self, frames: np.ndarray, *, cancel: CancelToken = NEVER) -> np.ndarray:
        """Embed frames, ``batch_size`` at a time.

        Parameters
        ----------
        frames : np.ndarray [shape=(n, h, w, 3), uint8]
            RGB frames.
        cancel : CancelToken
            Checked between batches.

        Returns
        -------
        np.ndarray [shape=(n, dim), float32]
            ``image_embeds`` (projected, not normalised).
        """
        import torch

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ModelError(f"frames must be (n, h, w, 3) RGB, got shape {frames.shape}")
        out = np.zeros((frames.shape[0], self.dim), dtype=np.float32)
        with oom_guard("encoding frames with CLIP", hint="lower encoders.batch_size"), torch.inference_mode():
            for first in range(0, frames.shape[0], self.batch_size):
                cancel.check()
                batch = frames[first : first + self.batch_size]
                pixels = self.processor(
                    images=list(batch), return_tensors="pt", input_data_format="channels_last"
                ).pixel_values
                embeds = self.model(pixel_values=pixels.to(self.device, self.dtype)).image_embeds
                out[first : first + len(batch)] = embeds.float().cpu().numpy()
        return out
