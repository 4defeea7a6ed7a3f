"""Tenants in the job stores (memory, a SQLite file, PostgreSQL when reachable): every job
keeps its tenant, listings filter by it, idempotency keys are per tenant and owner, the
unfinished jobs of a tenant are counted; a database from before tenants is migrated with
its jobs in the default tenant; the CLI's read-only folder view shows every tenant's jobs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from eigen.errors import AlreadyExists
from eigen.kernel.store import migrate
from eigen.kernel.store.base import JobFilter, JobStore
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.models.job import Job, JobEvent
from eigen.models.principal import DEFAULT_TENANT
from eigen.models.state import JobState
from eigen.server.folder_view import open_view
from tests.unit.store.contract import event, job_request
from tests.unit.store.migration_contract import engine_for, legacy_job_row
from tests.unit.store.postgres import fresh_database


def a_job(job_id: str, created: float, tenant: str, owner: str = "ann", key: str | None = None) -> Job:
    return Job(
        id=job_id,
        request=job_request(),
        state=JobState.PENDING,
        created_at=created,
        updated_at=created,
        owner=owner,
        tenant=tenant,
        idempotency_key=key,
    )


def first_event(job: Job) -> JobEvent:
    return JobEvent(job.id, 1, JobState.PENDING, "state", job.created_at)


def put(store: JobStore, job: Job) -> Job:
    store.create(job, first_event(job))
    return job


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "memory":
        yield MemoryJobStore()
        return
    if request.param == "sqlite":
        made = SqlJobStore(sqlite_url(tmp_path / "eigen.db"))
        yield made
        made.close()
        return
    with fresh_database() as url:
        made = SqlJobStore(url)
        yield made
        made.close()


def test_a_job_keeps_its_tenant(store: JobStore) -> None:
    put(store, a_job("a1", 10.0, "acme"))
    put(store, Job("d1", job_request(), JobState.PENDING, 11.0, 11.0))  # no tenant given
    assert store.get("a1").tenant == "acme"  # type: ignore[union-attr]
    assert store.get("d1").tenant == DEFAULT_TENANT  # type: ignore[union-attr]
    assert [j.tenant for j in store.in_states((JobState.PENDING,))] == ["acme", DEFAULT_TENANT]


def test_listings_filter_by_tenant_and_none_lists_every_tenant(store: JobStore) -> None:
    put(store, a_job("a1", 10.0, "acme"))
    put(store, a_job("b1", 11.0, "bolt"))
    put(store, a_job("a2", 12.0, "acme"))
    assert [j.id for j in store.list_jobs(JobFilter(tenant="acme"))] == ["a2", "a1"]
    assert [j.id for j in store.list_jobs(JobFilter(tenant="bolt"))] == ["b1"]
    assert store.list_jobs(JobFilter(tenant="nobody")) == []
    assert [j.id for j in store.list_jobs(JobFilter())] == ["a2", "b1", "a1"]
    # with the other filters and the keyset cursor, as before
    page = store.list_jobs(JobFilter(tenant="acme", limit=1, before=(12.0, "a2")))
    assert [j.id for j in page] == ["a1"]
    assert store.list_jobs(JobFilter(tenant="bolt", id_prefix="a")) == []


def test_an_idempotency_key_is_the_tenants_and_the_owners(store: JobStore) -> None:
    put(store, a_job("a1", 10.0, "acme", key="k"))
    # another tenant's submitter of the same name reusing the key makes a job of its own
    put(store, a_job("b1", 11.0, "bolt", key="k"))
    assert store.find_by_idempotency_key("acme", "ann", "k").id == "a1"  # type: ignore[union-attr]
    assert store.find_by_idempotency_key("bolt", "ann", "k").id == "b1"  # type: ignore[union-attr]
    assert store.find_by_idempotency_key("clay", "ann", "k") is None
    assert store.find_by_idempotency_key("acme", "bob", "k") is None
    with pytest.raises(AlreadyExists):
        put(store, a_job("a2", 12.0, "acme", key="k"))
    with pytest.raises(AlreadyExists):  # a batch that repeats a key within one tenant: none of it
        store.create_many(
            [
                (j, first_event(j))
                for j in (a_job("c1", 13.0, "clay", key="x"), a_job("c2", 14.0, "clay", key="x"))
            ]
        )
    assert store.get("c1") is None
    # the same key for two tenants in one batch is two jobs
    pair = [a_job("c3", 15.0, "clay", key="y"), a_job("d3", 16.0, "dune", key="y")]
    store.create_many([(j, first_event(j)) for j in pair])
    assert store.get("c3") is not None and store.get("d3") is not None


def test_unfinished_jobs_are_counted_per_tenant_and_owner(store: JobStore) -> None:
    for index, (tenant, owner) in enumerate(
        [("acme", "ann"), ("acme", "ann"), ("acme", "bob"), ("bolt", "ann"), ("acme", "ann")]
    ):
        put(store, a_job(f"j{index}", 10.0 + index, tenant, owner))
    assert store.transition("j1", JobState.PENDING, event("j1", 2, JobState.COMPILING), {})
    assert store.transition("j1", JobState.COMPILING, event("j1", 3, JobState.QUEUED), {})
    assert store.transition("j1", JobState.QUEUED, event("j1", 4, JobState.RUNNING), {})
    assert store.transition("j4", JobState.PENDING, event("j4", 2, JobState.CANCELLED), {})
    assert store.count_unfinished("acme") == 3  # j0 PENDING, j1 RUNNING, j2; j4 ended
    assert store.count_unfinished("acme", "ann") == 2
    assert store.count_unfinished("acme", "bob") == 1
    assert store.count_unfinished("bolt") == 1
    assert store.count_unfinished("clay") == 0
    # the kernel's own admitted jobs are left out (it counts them itself, once)
    assert store.count_unfinished("acme", exclude={"j0", "j4", "nope"}) == 2
    assert store.count_unfinished("acme", "ann", exclude={"j1"}) == 1
    assert store.transition("j1", JobState.RUNNING, event("j1", 5, JobState.DONE), {})
    assert store.count_unfinished("acme", "ann") == 1


# -- migration of a database from before tenants -------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "old.db")
        return
    with fresh_database() as url:
        yield url


def test_jobs_stored_before_tenants_belong_to_the_default_tenant(database_url: str) -> None:
    with engine_for(database_url) as engine:
        migrate.upgrade(engine, "0002")
        old = sa.MetaData()
        with engine.begin() as connection:
            old.reflect(connection)
            assert "tenant" not in old.tables["jobs"].c
            for job_id, key in (("old1", "k"), ("old2", None)):
                row = {**legacy_job_row(job_id, 1000.5), "idempotency_key": key}
                connection.execute(old.tables["jobs"].insert().values(**row))
    store = SqlJobStore(database_url)  # migrates to head on open
    try:
        assert store.get("old1").tenant == DEFAULT_TENANT  # type: ignore[union-attr]
        assert [j.id for j in store.list_jobs(JobFilter(tenant=DEFAULT_TENANT))] == ["old2", "old1"]
        assert store.find_by_idempotency_key(DEFAULT_TENANT, "anonymous", "k").id == "old1"  # type: ignore[union-attr]
        # the key is unique per tenant now: another tenant may use it, the default one may not
        put(store, a_job("new", 2000.0, "acme", owner="anonymous", key="k"))
        with pytest.raises(AlreadyExists):
            put(store, a_job("again", 2001.0, DEFAULT_TENANT, owner="anonymous", key="k"))
        assert store.count_unfinished(DEFAULT_TENANT) == 0  # both old jobs ended DONE
    finally:
        store.close()


# -- the CLI's read-only view of a data folder ----------------------------------------------
def test_the_folder_view_shows_every_tenants_jobs_with_their_tenant(tmp_path: Path) -> None:
    made = SqlJobStore(sqlite_url(tmp_path / "eigen.db"))
    try:
        put(made, a_job("a1", 10.0, "acme"))
        put(made, a_job("b1", 11.0, "bolt"))
    finally:
        made.close()
    view = open_view(tmp_path / "eigen.db", tmp_path)
    assert view is not None
    try:
        assert [(j.id, j.tenant) for j in view.list_jobs(JobFilter())] == [("b1", "bolt"), ("a1", "acme")]
        assert [j.id for j in view.list_jobs(JobFilter(tenant="acme"))] == ["a1"]
        assert view.get("b1").tenant == "bolt"  # type: ignore[union-attr]
    finally:
        view.close()
