"""``avstudio models`` and ``avstudio doctor``."""

from __future__ import annotations

import click

from avstudio.cli.common import json_option, open_workspace, print_json, workspace_option
from avstudio.humanize import size


@click.command()
@workspace_option
@json_option
def models(directory: str, as_json: bool) -> None:
    """List each configured model: found or not, where, size, embedding dimension.

    Models are looked up in a local folder or the Hugging Face cache only;
    nothing is ever downloaded.
    """
    from avstudio.models.inventory import configured_models

    ws = open_workspace(directory)
    entries = configured_models(ws.manifest)
    if as_json:
        print_json(entries)
        return
    if not entries:
        click.echo(f"the {ws.manifest.template} pipeline uses no models")
        return
    for e in entries:
        if e.get("note"):
            click.echo(f"{e['role']:<18} {e['spec']:<40} {e['note']}")
        elif e["found"]:
            dim = f"{e['dim']}-d" if e.get("dim") else ""
            click.echo(f"{e['role']:<18} {e['spec']:<40} found  {size(e['bytes']):>9} {dim:>7}  {e['path']}")
        else:
            click.echo(f"{e['role']:<18} {e['spec']:<40} MISSING  {e['error']}")
    if not all(e["found"] for e in entries):
        raise SystemExit(1)


@click.command()
@json_option
def doctor(as_json: bool) -> None:
    """Report Python, torch, CUDA/MPS devices and memory, and key package versions."""
    from avstudio.doctor import collect

    info = collect()
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        if isinstance(value, list):
            click.echo(f"{key}:")
            for item in value:
                click.echo(f"  - {item}")
        elif isinstance(value, dict):
            click.echo(f"{key}:")
            for k, v in value.items():
                click.echo(f"  {k}: {v}")
        else:
            click.echo(f"{key}: {value}")


COMMANDS = [models, doctor]
