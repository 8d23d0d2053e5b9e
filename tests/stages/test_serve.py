"""``avstudio serve``: the TUI in a browser through textual-serve, on localhost by default."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

from click.testing import CliRunner

from avstudio.cli import cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_with_the_app_page_on_localhost(make_ws, solid_clip):
    ws = make_ws(solid_clip)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "avstudio", "serve", str(ws.root), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        page, deadline = None, time.time() + 30
        while page is None and time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    page = (r.status, r.read().decode())
            except OSError:
                time.sleep(0.2)
        assert page is not None, "serve never answered"
        status, html = page
        assert status == 200 and "textual.js" in html and f"ws://127.0.0.1:{port}/ws" in html
        r = CliRunner().invoke(cli, ["serve", str(ws.root), "--port", str(port)])  # a second serve, same port
        assert r.exit_code == 1 and r.output.startswith(f"error: port {port} on 127.0.0.1 is in use"), r.output
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"ssh -L {port}:127.0.0.1:{port}" in out


def test_serve_refuses_a_folder_that_is_not_a_workspace(tmp_path):
    r = CliRunner().invoke(cli, ["serve", str(tmp_path), "--port", str(free_port())])
    assert r.exit_code != 0 and r.output.startswith("error:") and len(r.output.strip().splitlines()) == 1, r.output
