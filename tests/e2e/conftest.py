"""A real Vallum server on loopback and a headless Chromium driven by Playwright.

The browser is Debian's ``chromium`` (``make browser`` / ``.ci/run`` install it);
Playwright only drives it (``executable_path``), it downloads nothing. Outside CI
the tests skip with a reason when Chromium is missing; with CI=true they fail.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.conftest import IN_CI
from vallum.app import create_app
from vallum.config import VallumSettings, load_settings
from vallum.context import initialise

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class LiveServer:
    url: str
    settings: VallumSettings
    admin_password: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = load_settings(data_dir=tmp_path / "data", port=_free_port())
    result = initialise(settings)
    assert result.admin is not None
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield LiveServer(f"http://127.0.0.1:{settings.port}", settings, result.admin.password)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing")
        pytest.skip("Chromium not installed (run `make browser`); set CI=true to fail instead")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
