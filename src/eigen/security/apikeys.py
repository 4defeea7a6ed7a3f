"""API keys: their format, the keyed hash they are stored as, the server secret of that
hash, and their verification on an api node (with a short cache of looked-up records).

A key reads ``eig_<key id>_<secret>``: the key id (12 letters and digits) names the row of
``api_keys`` to look up; the secret (32 random bytes, url-safe base64) is what proves
possession. The store keeps only ``hmac-sha256:<hex>``, HMAC-SHA256 under the server
secret of ``<key id>:<secret>``, compared in constant time. A keyed hash, not bcrypt or
argon2: the secret already carries 256 random bits, so nothing is gained by making each
guess slow, and the check runs on every call (microseconds, where a password hash costs
tens of milliseconds of CPU). Without the server secret a stolen digest is worthless.

A looked-up record is trusted for at most ``api_key_cache_s`` (at most 1 s), so a revoked
key, an expired key or a deleted tenant is refused on every api node within that window
plus one database read, and a steady caller costs no database read per call.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

from eigen.config.errors import InvalidSetting
from eigen.config.settings import Settings
from eigen.errors import Unauthenticated
from eigen.models.credentials import ApiKeyRecord, KeyStore, TenantRecord

PREFIX = "eig_"
KEY_ID_LENGTH = 12
SECRET_BYTES = 32
SCHEME = "hmac-sha256"
SECRET_FILE = "api-key.secret"
SERVER_SECRET_MIN = 16  # characters of a configured api_key_secret
_KEY_ID_ALPHABET = string.ascii_letters + string.digits  # no "_": the key id ends at one
_KEY_ID = re.compile(rf"[A-Za-z0-9]{{{KEY_ID_LENGTH}}}")
_KEY_MAX = 256  # a presented key longer than this is not one of ours

T = TypeVar("T")
log = logging.getLogger(__name__)


def is_api_key(text: str) -> bool:
    """Whether ``text`` has the shape of an Eigen API key (starts with ``eig_``)."""
    return text.startswith(PREFIX)


def parse(key: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of ``key``, None if it is not shaped like an API key."""
    if not key.startswith(PREFIX) or len(key) > _KEY_MAX:
        return None
    key_id, sep, secret = key[len(PREFIX) :].partition("_")
    if not sep or len(key_id) != KEY_ID_LENGTH or not secret:
        return None
    if not _KEY_ID.fullmatch(key_id):
        return None
    return key_id, secret


def digest(server_secret: bytes, key_id: str, secret: str) -> str:
    """What the store keeps of a key: ``hmac-sha256:<hex>`` of ``<key id>:<secret>``."""
    mac = hmac.digest(server_secret, f"{key_id}:{secret}".encode(), hashlib.sha256)
    return f"{SCHEME}:{mac.hex()}"


def new_key(
    server_secret: bytes,
    *,
    tenant: str,
    name: str,
    role: str,
    created_at: float,
    expires_at: float | None = None,
) -> tuple[str, ApiKeyRecord]:
    """A fresh key (the text to hand to the client, once) and the record to store."""
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))
    secret = secrets.token_urlsafe(SECRET_BYTES)
    record = ApiKeyRecord(
        key_id=key_id,
        tenant=tenant,
        name=name,
        role=role,
        digest=digest(server_secret, key_id, secret),
        created_at=created_at,
        expires_at=expires_at,
    )
    return f"{PREFIX}{key_id}_{secret}", record


def server_secret(settings: Settings) -> bytes:
    """The key of the keyed hash: ``api_key_secret``, else the file ``api-key.secret`` in
    ``data_dir`` (made on first use, mode 0600). Every api node of a cluster, and every
    place that runs ``eigen-server keys create``, must share it: set ``api_key_secret``."""
    if settings.api_key_secret is not None:
        value = settings.api_key_secret.get_secret_value()
        if len(value) < SERVER_SECRET_MIN:
            raise InvalidSetting.for_field(
                "api_key_secret", f"must be at least {SERVER_SECRET_MIN} characters"
            )
        return value.encode()
    return _secret_file(Path(settings.data_dir) / SECRET_FILE)


def _secret_file(path: Path) -> bytes:
    """The secret in ``path``, written first if missing. A new secret goes to a temporary
    file linked into place, so a concurrent reader sees no file or the whole secret, and of
    two processes making one at once, one wins and both use its secret."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48) + "\n")
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    value = path.read_text().strip()
    if len(value) < SERVER_SECRET_MIN:
        raise InvalidSetting.for_field(
            "api_key_secret", f"the file {path} holds fewer than {SERVER_SECRET_MIN} characters"
        )
    return value.encode()


class _Recent(Generic[T]):
    """Values looked up lately, each trusted for ``ttl_s`` after its lookup began (misses
    too: a flood of made-up key ids costs one read per id and window). Thread-safe; the
    least recently used entries go past ``size``.

    An entry past half its life is read again by ``refresh`` (a background thread) while
    the caller still gets the entry, so a steady caller never waits for the database on
    the edge's event loop; an entry is never used past ``ttl_s``."""

    def __init__(
        self,
        ttl_s: float,
        clock: Callable[[], float],
        refresh: Callable[[Callable[[], None]], None] | None = None,
        size: int = 10_000,
    ) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.refresh = refresh
        self.size = size
        self._items: OrderedDict[str, tuple[float, T | None]] = OrderedDict()
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def get(self, name: str, load: Callable[[str], T | None]) -> T | None:
        if self.ttl_s <= 0:
            return load(name)
        now, refresh = self.clock(), self.refresh
        with self._lock:
            found = self._items.get(name)
            fresh = found is not None and now - found[0] < self.ttl_s
            if found is not None and fresh:
                if refresh is None or now - found[0] < self.ttl_s / 2 or name in self._refreshing:
                    return found[1]
                self._refreshing.add(name)
        if found is not None and fresh and refresh is not None:
            refresh(lambda: self._reload(name, load))
            return found[1]
        value = load(name)
        self._put(name, now, value)
        return value

    def _reload(self, name: str, load: Callable[[str], T | None]) -> None:
        try:
            started = self.clock()
            self._put(name, started, load(name))
        except Exception:  # the entry ages out; the next caller reads, and sees the error
            log.warning("API key lookup failed in the background", exc_info=True)
        finally:
            with self._lock:
                self._refreshing.discard(name)

    def _put(self, name: str, at: float, value: T | None) -> None:
        with self._lock:
            kept = self._items.get(name)
            if kept is not None and kept[0] > at:
                return  # a newer read landed first
            self._items[name] = (at, value)
            self._items.move_to_end(name)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class CachedKeyStore:
    """The key store as an api node reads it: keys and tenants trusted for ``ttl_s``
    (``api_key_cache_s``) after they were read, refreshed ahead by one background thread
    (``background`` false: never, as in tests that count reads); ``clock`` is monotonic."""

    def __init__(
        self,
        keys: KeyStore,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        background: bool = True,
    ) -> None:
        self.store = keys
        self._pool: ThreadPoolExecutor | None = None
        refresh = self._submit if background else None
        self._keys: _Recent[ApiKeyRecord] = _Recent(ttl_s, clock, refresh)
        self._tenants: _Recent[TenantRecord] = _Recent(ttl_s, clock, refresh)

    def key(self, key_id: str) -> ApiKeyRecord | None:
        return self._keys.get(key_id, self.store.key)

    def tenant(self, name: str) -> TenantRecord | None:
        return self._tenants.get(name, self.store.tenant)

    def _submit(self, work: Callable[[], None]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eigen-key-refresh")
        self._pool.submit(work)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def refused(reason: str, key_id: str = "") -> Unauthenticated:
    """The refusal of an API key: metadata ``method=api_key``, ``reason`` and the key id
    as ``subject``; never the secret."""
    return Unauthenticated(
        f"API key refused: {reason}",
        metadata={"method": "api_key", "reason": reason, "subject": key_id},
    )


class ApiKeyVerifier:
    """Turns a presented key into its record, or refuses it (UNAUTHENTICATED): unknown
    key id, wrong secret, revoked, expired. (A deleted tenant is refused by the
    authenticator, for every method alike.) ``now`` is the wall clock of expiry."""

    def __init__(
        self, keys: CachedKeyStore, server_secret: bytes, now: Callable[[], float] = time.time
    ) -> None:
        self.keys = keys
        self._secret = server_secret
        self.now = now

    def __repr__(self) -> str:
        return "ApiKeyVerifier()"  # no secret in a repr

    def verify(self, key: str) -> ApiKeyRecord:
        parsed = parse(key)
        if parsed is None:
            raise refused("malformed key")
        key_id, secret = parsed
        record = self.keys.key(key_id)
        if record is None:
            raise refused("unknown key", key_id)
        if not hmac.compare_digest(record.digest, digest(self._secret, key_id, secret)):
            raise refused("wrong secret", key_id)
        why = record.refusal(self.now())
        if why is not None:
            raise refused(why, key_id)
        return record
