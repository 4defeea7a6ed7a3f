"""A real embedded server with authentication on (API keys in its SQLite store), gRPC and
HTTP on free loopback ports, and the credentials of callers of several tenants and roles.

Shared by the security edge tests (``test_security_matrix``, ``test_security_isolation``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from eigen.config.settings import Settings
from eigen.kernel.store.keys import SqlKeyStore
from eigen.kernel.store.sql import SqlJobStore
from eigen.security import apikeys
from eigen.server.embedded import EmbeddedServer

SERVER_SECRET = "edges-test-server-secret-0123456789"
BAD_KEY = "eig_AAAAAAAAAAAA_not-a-key-this-server-made"


@dataclass
class Secured:
    """The server and the API key of each caller, by a name the test gives it."""

    server: EmbeddedServer
    keys: dict[str, str] = field(default_factory=dict)

    def add_key(self, caller: str, *, tenant: str, role: str, name: str | None = None) -> str:
        """A new API key of ``tenant`` with ``role``, kept as ``caller``'s (``name``: the
        key's name, the principal's subject; default ``caller``)."""
        stack = self.server.stack
        assert stack is not None and stack.kernel is not None
        store = stack.kernel.store
        assert isinstance(store, SqlJobStore)
        engine = store.engine
        secret = apikeys.server_secret(self.server.settings)
        key, record = apikeys.new_key(
            secret, tenant=tenant, name=name or caller, role=role, created_at=time.time()
        )
        SqlKeyStore(engine).add_key(record, time.time())
        self.keys[caller] = key
        return key

    def headers(self, caller: str) -> dict[str, str]:
        """The headers (or gRPC metadata) of ``caller``: its key as a bearer credential;
        ``none`` sends no credential (only an ``x-eigen-caller`` claiming to be an admin),
        ``bad`` a key this server never made."""
        if caller == "none":
            return {"x-eigen-caller": "admin"}
        if caller == "bad":
            return {"authorization": f"Bearer {BAD_KEY}"}
        return {"authorization": f"Bearer {self.keys[caller]}"}

    def metadata(self, caller: str) -> tuple[tuple[str, str], ...]:
        return tuple(self.headers(caller).items())


@contextmanager
def secured_server(data_dir: Path) -> Iterator[Secured]:
    settings = Settings(
        data_dir=data_dir,
        http_port=0,
        auth_required=True,
        api_key_secret=SERVER_SECRET,
    )
    with EmbeddedServer(settings) as running:
        assert running.http_port
        yield Secured(running)
