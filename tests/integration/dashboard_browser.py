"""Headless Chromium for the dashboard tests (Debian's ``chromium``, driven by Playwright),
a test device whose exact estimates the test hands out one at a time, and screenshots.

``EIGEN_CHROMIUM`` names another Chromium executable. Without Chromium or Playwright the
browser tests skip, except under ``EIGEN_CI=1``, where they fail: CI installs both
(``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest

from eigen.drivers.registry import DriverRegistry
from eigen.drivers.statevector import StatevectorDriver
from eigen.server.embedded import EmbeddedServer

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
STEPPED = "test:stepped"
MAX_STEP_WAIT_S = 60.0


def chromium_path() -> str | None:
    found = os.environ.get("EIGEN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return found if found and Path(found).exists() else None


def require_browser() -> str:
    """The Chromium executable; skip (fail under EIGEN_CI=1) when it or Playwright is missing."""
    path = chromium_path()
    missing = ""
    if path is None:
        missing = "Debian's chromium is not installed (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[dev]')"
    if missing:
        if os.environ.get("EIGEN_CI") == "1":
            pytest.fail(f"dashboard tests need a browser under EIGEN_CI=1: {missing}")
        pytest.skip(missing)
    assert path is not None
    return path


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot to artifacts/screenshots/NAME.png (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class SteppedDriver(StatevectorDriver):
    """``sim:statevector``'s exact estimates, each waiting for a step the test allows, so a
    hybrid loop advances only as fast as the test lets it (a curve can be seen growing)."""

    name: ClassVar[str] = STEPPED
    aliases: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self.steps = threading.Semaphore(0)
        self.free = threading.Event()

    def allow(self, steps: int) -> None:
        for _ in range(steps):
            self.steps.release()

    def release(self) -> None:
        """Every further estimate runs at once."""
        self.free.set()
        self.allow(10_000)

    def estimate(
        self, circuit: Any, observables: list[Any], bindings: list[dict[str, float]]
    ) -> list[list[float]]:
        if not self.free.is_set():
            self.steps.acquire(timeout=MAX_STEP_WAIT_S)
        return super().estimate(circuit, observables, bindings)


_STEPPED: weakref.WeakKeyDictionary[EmbeddedServer, SteppedDriver] = weakref.WeakKeyDictionary()


@contextmanager
def stepping(server: EmbeddedServer) -> Iterator[SteppedDriver]:
    """The server's ``test:stepped`` device; every estimate runs freely after the block."""
    assert server.stack is not None and isinstance(server.stack.drivers, DriverRegistry)
    if server not in _STEPPED:
        _STEPPED[server] = SteppedDriver()
        server.stack.drivers.register(_STEPPED[server])
        if server.stack.kernel is not None:
            server.stack.kernel.refresh_backends()
    driver = _STEPPED[server]
    driver.free.clear()
    try:
        yield driver
    finally:
        driver.release()
