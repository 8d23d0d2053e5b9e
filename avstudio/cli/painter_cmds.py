"""The blind painter's commands: ``paint``, ``checkpoints``, ``compare``."""

from __future__ import annotations

from pathlib import Path

import click

from avstudio.cli.common import interactive, json_option, open_workspace, print_json, workspace_option

KEY_METRICS = ("ssim", "iou", "mae", "polarity_accuracy", "brightness_corr", "embedding_cosine")


@click.command()
@workspace_option
@click.option("--audio", "audio", required=True, type=click.Path(path_type=str),
              help="Audio to paint: wav/flac/ogg/mp3, or a video file's soundtrack.")
@click.option("--checkpoint", help="Checkpoint name, 'best' or 'latest' (default: paint.checkpoint).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str),
              help="Output video (default: outputs/painted-<audio name>.mp4).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Paint at most N frames (quick tests).")
@json_option
def paint(directory: str, audio: str, checkpoint: str | None, out: str | None, max_frames: int | None,
          as_json: bool) -> None:
    """Paint a new video for any audio file with a trained mapper.

    The video has the workspace's analysis frame rate and the length of the
    audio (or N frames with --max-frames), with the audio muxed in.
    """
    from avstudio.cancel import CancelToken
    from avstudio.cli.reporters import make_reporter
    from avstudio.workspace.lock import WorkspaceLock
    from avstudio.stages.paint import paint_audio_file

    ws = open_workspace(directory)
    target = Path(out) if out else ws.layout.outputs / f"painted-{Path(audio).stem}.mp4"
    reporter = make_reporter(as_json=as_json, interactive=interactive())
    lock = WorkspaceLock(ws.layout.lock_file)
    lock.acquire()
    try:
        result = paint_audio_file(ws, Path(audio), checkpoint=checkpoint, out=target, max_frames=max_frames,
                                  on_event=reporter, cancel=CancelToken())
    finally:
        reporter.close()
        lock.release()
    if not as_json:
        click.echo(f"wrote {result['out']} ({result['frames']} frames, {result['duration']:.3f} s) "
                   f"with checkpoint {result['checkpoint']}")


def _metric_cell(info, metric: str, who: str = "mapper") -> str:
    value = info.metrics.get(f"{who}.{metric}")
    return "" if value is None else f"{value:.3f}"


@click.command()
@workspace_option
@json_option
def checkpoints(directory: str, as_json: bool) -> None:
    """List mapper checkpoints with their key params and held-out metrics."""
    from avstudio.mapper.checkpoint import list_checkpoints

    ws = open_workspace(directory)
    infos = list_checkpoints(ws.layout.checkpoints)
    if as_json:
        print_json([i.to_dict() if hasattr(i, "to_dict") else vars(i) for i in infos])
        return
    if not infos:
        click.echo(f"no checkpoints yet in {ws.layout.checkpoints} (run `avstudio run train -C {directory}`)")
        return
    chosen = ws.manifest.get("paint.checkpoint")
    header = f"{'name':<28} {'best':<4} {'hidden':>6} {'depth':>5} {'val loss':>9} " + " ".join(f"{m[:8]:>8}" for m in KEY_METRICS[:4])
    click.echo(header)
    for i in infos:
        if getattr(i, "broken", None):
            click.echo(f"{i.name:<28} broken: {i.broken}")
            continue
        mapper = i.config.get("mapper", {})
        val = i.metrics.get("best_val_loss", float("nan"))
        mark = "*" if i.best else ""
        name = i.name + (" (paint)" if i.name == chosen else "")
        click.echo(f"{name:<28} {mark:<4} {mapper.get('hidden', ''):>6} {mapper.get('depth', ''):>5} {val:>9.4f} "
                   + " ".join(f"{_metric_cell(i, m):>8}" for m in KEY_METRICS[:4]))
    first = infos[0]
    if "mean_frame.ssim" in first.metrics:
        base = "   ".join(f"{who.replace('_', ' ')}: " + ", ".join(f"{m} {_metric_cell(first, m, who)}" for m in KEY_METRICS[:4])
                           for who in ("mean_frame", "nearest_neighbour"))
        click.echo(f"baselines on {first.name}'s held-out block: {base}")


@click.command()
@click.argument("names", nargs=-1, required=True, metavar="A B [...]")
@workspace_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=str),
              help="Contact-sheet PNG (default: outputs/compare.png).")
@json_option
def compare(names: tuple[str, ...], directory: str, out: str | None, as_json: bool) -> None:
    """Compare checkpoints: params that differ, metrics (best marked), and a contact-sheet PNG.

    The PNG has the same held-out timestamps as rows and true frame | mean-frame
    baseline | each checkpoint as columns, above the loss curves.
    """
    from avstudio.errors import ModelError
    from avstudio.evaluate.compare import compare_table
    from avstudio.evaluate.preview import write_comparison
    from avstudio.mapper.checkpoint import pick_checkpoint

    if len(names) < 2:
        raise ModelError("compare needs at least two checkpoints", hint="see `avstudio checkpoints` for names")
    ws = open_workspace(directory)
    infos = [pick_checkpoint(ws.layout.checkpoints, n) for n in names]
    table = compare_table(infos)
    png = write_comparison(ws, infos, Path(out) if out else ws.layout.outputs / "compare.png")
    if as_json:
        print_json({**table, "png": str(png)})
        return
    from avstudio.cli.compare_view import print_compare

    print_compare(table, [i.name for i in infos])
    click.echo(f"contact sheet: {png}")


COMMANDS = [paint, checkpoints, compare]
