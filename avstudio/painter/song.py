"""``avstudio paint --audio``: a painter paints a video for any soundtrack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def paint_song(ws: Any, audio_path: Path, *, checkpoint: str | None, out: Path, max_frames: int | None,
               initial_polarity: int | None, on_event: Any, cancel: Any) -> dict[str, Any]:
    """Paint a video for a new audio file with the workspace's painter.

    The audio is resampled to the encoder's rate for embedding (any sample
    rate works); the video has the painter's frame rate and the audio's length,
    and carries the audio's own channels (stereo stays stereo). ``out`` is
    checked before anything is painted.

    Parameters
    ----------
    initial_polarity : {1, -1}, optional
        The scene polarity to start from (default: the polarity of the first
        training frame).

    Returns
    -------
    dict
        ``out``, ``frames``, ``duration``, ``checkpoint``, ``channels``, ``polarity_switches``.
    """
    from avstudio.errors import MediaError
    from avstudio.features.audio import audio_features
    from avstudio.media.audio import read_audio, resample
    from avstudio.media.encode import VideoWriter, check_writable
    from avstudio.painter.bundle import Painter
    from avstudio.painter.data import output_size
    from avstudio.pipeline.events import Log, Progress
    from avstudio.pipeline.fingerprint import file_identity, fingerprint
    from avstudio.render.painter import paint
    from avstudio.render.resume import ChunkSpool

    def log(msg: str) -> None:
        on_event(Log(stage="paint", message=msg))

    check_writable(out)
    painter = Painter.pick(ws.layout.checkpoints, checkpoint or ws.manifest.get("paint.checkpoint"))
    if not audio_path.exists():
        raise MediaError(f"audio file not found: {audio_path}", hint="check the path passed to --audio")
    track = read_audio(audio_path, mono=False)
    if track is None:
        raise MediaError(f"{audio_path} has no audio stream", hint="pass an audio file or a video with sound")
    mono = track.mix()
    if not mono.size or float(np.abs(track.samples).max()) == 0.0:
        raise MediaError(f"{audio_path} is silent", hint="the painter follows the sound; use a file with audible audio")
    encoder = painter.audio_encoder(ws.manifest)
    duration = len(mono) / track.sr
    if duration < encoder.window_seconds:
        raise MediaError(f"{audio_path} lasts {duration:.2f} s, shorter than one {encoder.window_seconds:g} s window",
                         hint="use a longer file, or train with a smaller encoders.window_seconds")
    fps = painter.fps
    n = int(round(duration * fps))
    if max_frames:
        n = min(n, max_frames)
    size = output_size(ws)
    render = ws.manifest.params["render"]
    with ws.store.read("extract") as ex:
        frames = ex["frames"]
        renderer = painter.renderer(render, size=size, frames=frames, base_dir=str(ws.manifest.path.parent),
                                    cancel=cancel)  # checks sizes and the library before embedding
        if track.sr != encoder.sample_rate:
            log(f"resampling {track.sr} Hz -> {encoder.sample_rate} Hz for {encoder.name}")
        from avstudio.encoders.windows import embed_audio

        emb = embed_audio(encoder, resample(mono, track.sr, encoder.sample_rate), encoder.sample_rate, fps=fps,
                          n_frames=n, n_fit=None, cancel=cancel)
        onset = audio_features(mono, track.sr, fps=fps, n_frames=n)["onset"]
        plans = painter.plan(emb, onset, temporal=ws.manifest.params["temporal"], backend=render["backend"],
                             initial_polarity=initial_polarity, max_segment_seconds=render["max_segment_seconds"])
        switches = sum(1 for a, b in zip(plans, plans[1:]) if a.polarity != b.polarity)
        key = fingerprint({"audio": file_identity(audio_path), "checkpoint": painter.name, "n": n,
                           "render": render, "temporal": ws.manifest.params["temporal"], "size": list(size),
                           "initial": initial_polarity or 0})
        spool = ChunkSpool(ws.layout.state_dir / "resume" / "paint-audio", key, frame_shape=(size[1], size[0], 3))
        log(f"painting {n} frames ({n / fps:.3f} s) at {size[0]}x{size[1]} with {painter.name} "
            f"({render['backend']}; {switches} scene switches, {sum(p.cut for p in plans)} cuts)")
        paint(plans, renderer, chunk=ws.manifest.get("render.chunk"), spool=spool, batch=render["batch"], cancel=cancel,
              progress=lambda d, t: on_event(Progress(stage="paint", done=d, total=t)), log=log)
    audio_out = track.samples[: int(round(n / fps * track.sr))]
    with VideoWriter(out, fps=fps, size=size, crf=ws.manifest.get("output.crf"), audio=audio_out,
                     audio_sr=track.sr) as writer:
        for block in spool.read(n):
            writer.write(block)
    spool.discard()
    channels = 1 if track.samples.ndim == 1 else track.samples.shape[1]
    return {"out": str(out), "frames": n, "duration": n / fps, "checkpoint": painter.name, "channels": channels,
            "polarity_switches": switches}
