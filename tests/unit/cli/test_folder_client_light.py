"""The CLI's folder client (and a session on the data folder) imports neither gRPC nor
protobuf: only the stack's client, started when a command needs a kernel, brings them."""

from __future__ import annotations

import subprocess
import sys

from eigen.cli import session
from eigen.client import channel

GRPC_MODULES = ("grpc", "google", "eigen.proto", "eigen.client.channel", "eigen.client.client")

LOADED = (
    "import sys\n"
    "import eigen.cli.local, eigen.cli.session, eigen.cli.main, eigen.client.job_ids\n"
    f"names = {GRPC_MODULES!r}\n"
    "subs = tuple(n + '.' for n in names)\n"
    "print(' '.join(sorted(m for m in sys.modules if m in names or m.startswith(subs))))\n"
)


def test_the_folder_client_imports_no_grpc() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "", f"the folder read path loaded: {done.stdout.strip()}"


def test_the_session_names_the_endpoint_variable_as_the_sdk_does() -> None:
    assert session.ENDPOINT_ENV == channel.ENDPOINT_ENV
