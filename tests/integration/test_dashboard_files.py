"""The dashboard's files as the server serves them (no browser needed), and ``eigen-cli ui``
serving them from the embedded stack on a loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from eigen.system_api.rest.ui import STATIC
from tests.integration.rest_helpers import rest_client
from tests.integration.secured import secured_server

pytestmark = pytest.mark.integration

URL_LINE = re.compile(r"Eigen dashboard: (http://127\.0\.0\.1:\d+/ui/)")


def test_the_files_are_served_under_ui_with_a_strict_policy(tmp_path: Path) -> None:
    with rest_client(tmp_path) as client:
        root = client.get("/ui")
        assert root.status_code == 307 and root.headers["location"] == "/ui/"
        page = client.get("/ui/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="js/main.js">' in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "connect-src 'self'" in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        script = client.get("/ui/js/main.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        for path in sorted(STATIC.rglob("*")):
            if path.is_file():
                served = client.get(f"/ui/{path.relative_to(STATIC).as_posix()}")
                assert served.status_code == 200, path
        assert client.get("/ui/nothing-here.js").status_code == 404
        assert "/ui/" not in client.get("/openapi.json").json()["paths"]


def test_no_secret_is_kept_in_browser_storage() -> None:
    """The credential stays in a JavaScript variable: no script writes web storage or cookies."""
    for script in STATIC.rglob("*.js"):
        code = re.sub(r"/\*.*?\*/", "", script.read_text(), flags=re.S)
        text = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("//"))
        for forbidden in ("localStorage", "sessionStorage", "document.cookie", "indexedDB"):
            assert forbidden not in text, f"{script.name} uses {forbidden}"


def test_the_files_need_no_credential_but_the_api_does(tmp_path: Path) -> None:
    with secured_server(tmp_path) as secured, httpx.Client(base_url=secured.server.http_address) as client:
        assert client.get("/ui/").status_code == 200
        assert client.get("/ui/js/api.js").status_code == 200
        assert client.get("/v1/jobs").status_code == 401


def test_eigen_cli_ui_serves_the_dashboard_on_loopback(tmp_path: Path) -> None:
    env = {**os.environ, "EIGEN_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        [sys.executable, "-m", "eigen.cli", "ui", "--port", "0", "--no-open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the stack serves (or the process ends)
        found = URL_LINE.search(line)
        assert found, (line, process.stderr.read() if process.poll() is not None and process.stderr else "")
        url = found.group(1)
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "Eigen dashboard" in page.text
        assert httpx.get(url.replace("/ui/", "/v1/backends"), timeout=30).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0


def test_eigen_cli_ui_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "eigen.cli", "ui", "--port", str(port), "--no-open"],
            capture_output=True,
            text=True,
            env={**os.environ, "EIGEN_DATA_DIR": str(tmp_path / "data")},
            timeout=120,
        )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert str(port) in done.stderr and time.monotonic() - started < 120
