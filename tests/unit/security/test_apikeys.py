"""API keys: the format, the keyed hash and its server secret, verification with a short
cache (on clocks the tests control), and the key store on a real SQLite file."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from eigen.config.errors import InvalidSetting
from eigen.config.settings import Settings
from eigen.errors import AlreadyExists, FailedPrecondition, NotFound, Unauthenticated
from eigen.kernel.store.engine import make_engine
from eigen.kernel.store.keys import MemoryKeyStore, SqlKeyStore
from eigen.kernel.store.migrate import upgrade
from eigen.kernel.store.sql import sqlite_url
from eigen.models.credentials import ApiKeyRecord, KeyStore
from eigen.security import apikeys
from eigen.security.apikeys import ApiKeyVerifier, CachedKeyStore
from tests.unit.store.postgres import fresh_database

SECRET = b"server-secret-for-the-tests-0123"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def made(
    store: MemoryKeyStore, *, tenant: str = "research", expires_at: float | None = None
) -> tuple[str, ApiKeyRecord]:
    key, record = apikeys.new_key(
        SECRET, tenant=tenant, name="ci-bot", role="submitter", created_at=T0, expires_at=expires_at
    )
    store.add_key(record, T0)
    return key, record


def verifier_of(store: MemoryKeyStore, cache_s: float = 1.0) -> tuple[ApiKeyVerifier, Clock, Clock]:
    monotonic, wall = Clock(), Clock(T0)
    return ApiKeyVerifier(CachedKeyStore(store, cache_s, monotonic), SECRET, wall), monotonic, wall


def refusal(check: ApiKeyVerifier, key: str) -> dict[str, str]:
    with pytest.raises(Unauthenticated) as caught:
        check.verify(key)
    assert caught.value.metadata["method"] == "api_key"
    parsed = apikeys.parse(key)  # the secret is url-safe base64 and may hold "_": parse it
    secret = parsed[1] if parsed else key  # a malformed key is hidden whole
    assert secret not in str(caught.value) and secret not in repr(caught.value.metadata)
    return caught.value.metadata


def test_a_key_reads_eig_id_secret_and_the_store_keeps_only_a_keyed_hash() -> None:
    key, record = apikeys.new_key(SECRET, tenant="t", name="n", role="viewer", created_at=T0)
    parsed = apikeys.parse(key)
    assert parsed is not None
    key_id, secret = parsed
    assert key == f"eig_{key_id}_{secret}" and record.key_id == key_id
    assert len(key_id) == 12 and key_id.isalnum()
    assert len(secret) >= 43  # 32 random bytes in url-safe base64
    assert record.digest.startswith("hmac-sha256:") and secret not in record.digest
    assert record.digest == apikeys.digest(SECRET, key_id, secret)
    assert record.digest != apikeys.digest(b"another-server-secret-0123456789", key_id, secret)
    assert record.digest not in repr(record)
    assert apikeys.new_key(SECRET, tenant="t", name="n", role="viewer", created_at=T0)[0] != key


@pytest.mark.parametrize(
    "text",
    ["eig_", "eig_short_secret", "eig_abcdefghijkl", "eig_abcdefghijkl_", "eig_abc-efghijkl_x", "x" * 300],
)
def test_malformed_keys_do_not_parse(text: str) -> None:
    assert apikeys.parse(text) is None


def test_a_valid_key_verifies_to_its_record() -> None:
    store = MemoryKeyStore()
    key, record = made(store)
    check, _, _ = verifier_of(store)
    assert check.verify(key) == record


def test_a_wrong_secret_an_unknown_id_or_a_malformed_key_is_refused() -> None:
    store = MemoryKeyStore()
    key, record = made(store)
    check, _, _ = verifier_of(store)
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert refusal(check, wrong) == {"method": "api_key", "reason": "wrong secret", "subject": record.key_id}
    other, _ = apikeys.new_key(SECRET, tenant="t", name="n", role="viewer", created_at=T0)
    assert refusal(check, other)["reason"] == "unknown key"
    assert refusal(check, "eig_nonsense")["reason"] == "malformed key"


def test_a_key_signed_under_another_server_secret_is_refused() -> None:
    store = MemoryKeyStore()
    key, record = apikeys.new_key(
        b"the-secret-of-another-cluster-00", tenant="t", name="n", role="viewer", created_at=T0
    )
    store.add_key(record, T0)
    check, _, _ = verifier_of(store)
    assert refusal(check, key)["reason"] == "wrong secret"


def test_a_revoked_key_is_refused_once_the_cache_window_has_passed() -> None:
    store = MemoryKeyStore()
    key, record = made(store)
    check, monotonic, _ = verifier_of(store, cache_s=1.0)
    check.verify(key)
    store.revoke(record.key_id, T0 + 1)
    monotonic.now += 0.5
    check.verify(key)  # within the window this node still trusts what it read
    monotonic.now += 0.5
    assert refusal(check, key) == {"method": "api_key", "reason": "revoked", "subject": record.key_id}


def test_without_a_cache_a_revoke_is_refused_at_once() -> None:
    store = MemoryKeyStore()
    key, record = made(store)
    check, _, _ = verifier_of(store, cache_s=0.0)
    check.verify(key)
    store.revoke(record.key_id, T0 + 1)
    assert refusal(check, key)["reason"] == "revoked"


def test_an_expired_key_is_refused() -> None:
    store = MemoryKeyStore()
    key, _ = made(store, expires_at=T0 + 3600)
    check, _, wall = verifier_of(store)
    check.verify(key)
    wall.now = T0 + 3600
    assert refusal(check, key)["reason"] == "expired"


def test_calls_within_the_window_read_the_store_once() -> None:
    store = MemoryKeyStore()
    key, _ = made(store)
    check, monotonic, _ = verifier_of(store)
    before = store.reads
    for _ in range(1000):
        check.verify(key)
    assert store.reads == before + 1
    monotonic.now += 1.0
    check.verify(key)
    assert store.reads == before + 2


def test_unknown_ids_are_cached_too_and_the_cache_is_bounded() -> None:
    store = MemoryKeyStore()
    cached = CachedKeyStore(store, 1.0, Clock())
    for _ in range(10):
        assert cached.key("abcdefghijkl") is None
    assert store.reads == 1
    cached._keys.size = 3
    for number in range(10):
        cached.key(f"id{number}")
    assert len(cached._keys._items) == 3


def test_the_server_secret_comes_from_the_setting_or_a_0600_file_made_once(tmp_path: Path) -> None:
    assert apikeys.server_secret(Settings(api_key_secret="x" * 20, data_dir=tmp_path)) == b"x" * 20
    assert not (tmp_path / "api-key.secret").exists()
    with pytest.raises(InvalidSetting, match="api_key_secret"):
        apikeys.server_secret(Settings(api_key_secret="short", data_dir=tmp_path))
    data = tmp_path / "data"
    first = apikeys.server_secret(Settings(data_dir=data))
    path = data / "api-key.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and apikeys.server_secret(Settings(data_dir=data)) == first
    assert sorted(os.listdir(data)) == ["api-key.secret"]  # no temporary file left behind


def test_processes_making_the_secret_at_once_agree_on_one(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "race")
    found: list[bytes] = []
    start = threading.Barrier(8)

    def make() -> None:
        start.wait()
        found.append(apikeys.server_secret(settings))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and len(found) == 8


@pytest.fixture
def sql_store(tmp_path: Path) -> SqlKeyStore:
    engine = make_engine(sqlite_url(tmp_path / "eigen.db"))
    upgrade(engine)
    return SqlKeyStore(engine, owns_engine=True)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyStore]:
    if request.param == "memory":
        yield MemoryKeyStore()
    elif request.param == "sqlite":
        yield request.getfixturevalue("sql_store")
    else:
        with fresh_database() as url:  # skips without a reachable server (fails in CI)
            engine = make_engine(url)
            upgrade(engine)
            store = SqlKeyStore(engine, owns_engine=True)
            yield store
            store.close()


def test_the_key_store_adds_lists_revokes_and_deletes_tenants(any_store: KeyStore) -> None:
    store = any_store
    _, first = apikeys.new_key(
        SECRET, tenant="a", name="one", role="viewer", created_at=T0, expires_at=T0 + 9
    )
    _, second = apikeys.new_key(SECRET, tenant="b", name="two", role="admin", created_at=T0 + 1)
    store.add_key(first, T0)
    store.add_key(second, T0 + 1)
    assert store.key(first.key_id) == first and store.key("nope") is None
    assert [k.key_id for k in store.list_keys()] == [first.key_id, second.key_id]
    assert [k.key_id for k in store.list_keys("b")] == [second.key_id]
    tenant = store.tenant("a")
    assert tenant is not None and tenant.created_at == T0 and not tenant.deleted
    with pytest.raises(AlreadyExists):
        store.add_key(first, T0)
    revoked = store.revoke(first.key_id, T0 + 5)
    assert revoked.revoked_at == T0 + 5 and store.revoke(first.key_id, T0 + 7).revoked_at == T0 + 5
    with pytest.raises(NotFound):
        store.revoke("nope", T0)
    gone = store.delete_tenant("b", T0 + 8)
    assert gone.deleted_at == T0 + 8 and store.delete_tenant("b", T0 + 9).deleted_at == T0 + 8
    _, third = apikeys.new_key(SECRET, tenant="b", name="three", role="viewer", created_at=T0 + 10)
    with pytest.raises(FailedPrecondition, match="deleted"):
        store.add_key(third, T0 + 10)
    never_seen = store.delete_tenant("idp-only", T0 + 11)  # a tenant known only from tokens
    assert never_seen.deleted and store.tenant("idp-only") == never_seen
    store.close()


def test_the_sql_store_keeps_no_key_only_its_digest(tmp_path: Path, sql_store: SqlKeyStore) -> None:
    key, record = apikeys.new_key(SECRET, tenant="a", name="one", role="viewer", created_at=T0)
    sql_store.add_key(record, T0)
    sql_store.close()
    engine = sa.create_engine(sqlite_url(tmp_path / "eigen.db"))
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select * from api_keys")).all()
    engine.dispose()
    parsed = apikeys.parse(key)
    assert len(rows) == 1 and parsed is not None and parsed[1] not in repr(rows)


def test_an_entry_past_half_its_life_is_read_again_in_the_background() -> None:
    clock = Clock()
    queued: list[Callable[[], None]] = []
    recent: apikeys._Recent[str] = apikeys._Recent(1.0, clock, queued.append)
    values = iter(["v1", "v2", "v3"])
    loads: list[str] = []

    def load(name: str) -> str:
        loads.append(name)
        return next(values)

    assert recent.get("k", load) == "v1"
    clock.now = 0.6
    assert recent.get("k", load) == "v1" and len(queued) == 1  # answered at once, a read queued
    assert recent.get("k", load) == "v1" and len(queued) == 1  # one refresh at a time
    queued.pop()()  # the background thread's turn, at 0.6
    clock.now = 1.5
    assert recent.get("k", load) == "v2" and len(loads) == 2  # no read by the caller
    clock.now = 2.7  # past the refreshed entry's life, nothing refreshed it: the caller reads
    assert recent.get("k", load) == "v3" and len(loads) == 3


def test_a_steady_caller_sees_a_revoke_through_the_background_read() -> None:
    store = MemoryKeyStore()
    key, record = made(store)
    monotonic = Clock()
    cached = CachedKeyStore(store, 1.0, monotonic)
    check = ApiKeyVerifier(cached, SECRET, Clock(T0))
    check.verify(key)
    store.revoke(record.key_id, T0 + 1)
    monotonic.now = 0.6
    check.verify(key)  # still the record read at 0: a read is queued meanwhile
    assert cached._pool is not None
    cached._pool.submit(lambda: None).result(timeout=10)  # one worker: the read is done
    monotonic.now = 0.7
    assert refusal(check, key)["reason"] == "revoked"
    cached.close()
