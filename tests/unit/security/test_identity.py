"""The authenticator of the edges: mTLS, then JWT, then API key; a presented credential
that fails is refused (never passed on); tenants and subjects of every method checked."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from eigen.config.settings import Settings
from eigen.errors import Unauthenticated
from eigen.kernel.store.keys import MemoryKeyStore
from eigen.models.audit import AuditEvent
from eigen.models.principal import Principal
from eigen.security import apikeys
from eigen.security.authenticator import Authenticator, Credentials
from eigen.security.guard import Guard
from eigen.security.identity import NO_CREDENTIAL, Identity, authenticator_from
from eigen.security.policy import PolicyFile
from tests.unit.security.test_tokens import AUDIENCE, ISSUER, SigningKey

POLICY = """\
certificates:
  - name: worker.research.example
    tenant: research
    subject: worker
    roles: [submitter]
  - name: bad-tenant.example
    tenant: research
    roles: [viewer]
"""


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class World:
    """An authenticator over a memory key store, a JWKS file and a policy file, with
    clocks the test moves."""

    def __init__(self, tmp_path: Path, signer: SigningKey, **values: Any) -> None:
        jwks = tmp_path / "jwks.json"
        jwks.write_text(json.dumps({"keys": [signer.jwk]}))
        policy = tmp_path / "policy.yaml"
        policy.write_text(POLICY)
        self.settings = Settings(
            **{
                "auth_required": True,
                "data_dir": tmp_path / "data",
                "jwt_jwks_file": jwks,
                "jwt_issuer": ISSUER,
                "jwt_audience": AUDIENCE,
                **values,
            }
        )
        self.signer = signer
        self.keys = MemoryKeyStore()
        self.monotonic = Clock(0.0)
        self.wall = Clock(time.time())
        made = authenticator_from(
            self.settings, self.keys, PolicyFile(policy), clock=self.monotonic, now=self.wall
        )
        assert made is not None
        self.identity: Identity = made
        self.secret = apikeys.server_secret(self.settings)

    def api_key(self, tenant: str = "research", role: str = "submitter", name: str = "ci-bot") -> str:
        key, record = apikeys.new_key(
            self.secret, tenant=tenant, name=name, role=role, created_at=self.wall.now
        )
        self.keys.add_key(record, self.wall.now)
        return key

    def token(self, **claims: Any) -> str:
        base = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": time.time() + 600,
            "sub": "alice",
            "tenant": "research",
        }
        base.update(claims)
        return jwt.encode(
            {k: v for k, v in base.items() if v is not None},
            self.signer.private,
            algorithm=self.signer.alg,
            headers={"kid": self.signer.kid},
        )

    def refused(self, credentials: Credentials) -> dict[str, str]:
        with pytest.raises(Unauthenticated) as caught:
            self.identity.authenticate(credentials)
        return caught.value.metadata


@pytest.fixture(scope="module")
def signer() -> SigningKey:
    return SigningKey("idp-1", "ES256")


@pytest.fixture
def world(tmp_path: Path, signer: SigningKey) -> World:
    return World(tmp_path, signer)


def bearer(value: str, **more: str) -> Credentials:
    return Credentials(headers={"authorization": f"Bearer {value}", **more}, peer="ipv4:127.0.0.1:5000")


def test_it_is_an_authenticator_and_off_unless_required(world: World, tmp_path: Path) -> None:
    assert isinstance(world.identity, Identity)
    authenticator: Authenticator = world.identity
    assert authenticator is world.identity
    assert authenticator_from(Settings(data_dir=tmp_path), MemoryKeyStore(), None) is None
    assert "secret" not in repr(world.identity).lower()


def test_an_api_key_as_bearer_or_x_api_key(world: World) -> None:
    key = world.api_key(role="viewer")
    expected = Principal("research", "ci-bot", frozenset({"viewer"}), "api_key")
    assert world.identity.authenticate(bearer(key)) == expected
    assert world.identity.authenticate(Credentials(headers={"x-api-key": key})) == expected
    assert world.identity.authenticate(Credentials(headers={"authorization": f"bearer  {key} "})) == expected


def test_a_jwt_as_bearer(world: World) -> None:
    token = world.token(roles="viewer wizard")
    assert world.identity.authenticate(bearer(token)) == Principal(
        "research", "alice", frozenset({"viewer", "wizard"}), "jwt"
    )


def test_a_mapped_certificate(world: World) -> None:
    names = ("unmapped-cn", "worker.research.example")
    assert world.identity.authenticate(Credentials(certificate_names=names)) == Principal(
        "research", "worker", frozenset({"submitter"}), "mtls"
    )


def test_no_credential_says_what_to_send(world: World) -> None:
    with pytest.raises(Unauthenticated) as caught:
        world.identity.authenticate(Credentials(headers={"x-eigen-caller": "mallory"}))
    assert str(caught.value) == NO_CREDENTIAL
    assert caught.value.metadata["reason"] == "no credential"


def test_an_unmapped_certificate_is_refused_not_anonymous_nor_passed_on(world: World) -> None:
    key = world.api_key()
    refused = world.refused(Credentials(headers={"x-api-key": key}, certificate_names=("stranger.example",)))
    assert refused["method"] == "mtls" and "not mapped" in refused["reason"]
    assert refused["subject"] == "stranger.example"


def test_certificates_without_a_policy_are_refused(tmp_path: Path, signer: SigningKey) -> None:
    world = World(tmp_path, signer)
    world.identity.policy = None
    assert world.refused(Credentials(certificate_names=("worker.research.example",)))["method"] == "mtls"


def test_a_bad_token_is_refused_even_beside_a_good_api_key(world: World) -> None:
    key = world.api_key()
    expired = world.token(exp=time.time() - 3600)
    refused = world.refused(bearer(expired, **{"x-api-key": key}))
    assert refused["method"] == "jwt" and refused["reason"] == "expired"


def test_a_bad_api_key_is_refused_not_anonymous(world: World) -> None:
    key = world.api_key()
    refused = world.refused(bearer(key[:-3] + "xyz"))
    assert refused == {"method": "api_key", "reason": "wrong secret", "subject": apikeys.parse(key)[0]}  # type: ignore[index]


@pytest.mark.parametrize(
    "authorization", ["Basic YWxpY2U6cHc=", "Bearer", "Bearer ", "Token eig_x", "Bearer something-else"]
)
def test_an_authorization_header_it_cannot_read_is_refused(world: World, authorization: str) -> None:
    refused = world.refused(
        Credentials(headers={"authorization": authorization, "x-api-key": world.api_key()})
    )
    assert refused["method"] == "none"


def test_a_jwt_when_jwt_is_off_and_an_api_key_when_keys_are_off(tmp_path: Path, world: World) -> None:
    keys_only = authenticator_from(Settings(auth_required=True, data_dir=tmp_path), MemoryKeyStore(), None)
    assert keys_only is not None
    with pytest.raises(Unauthenticated, match="JWT is not enabled"):
        keys_only.authenticate(bearer(world.token()))
    world.identity.api_keys = None
    with pytest.raises(Unauthenticated, match="API keys are not enabled"):
        world.identity.authenticate(bearer(world.api_key()))


@pytest.mark.parametrize(
    ("tenant", "subject", "words"),
    [
        ("has space", "alice", "tenant must be"),
        ("t" * 65, "alice", "tenant must be"),
        ("ünïcode", "alice", "tenant must be"),
        ("research", "a" * 129, "subject must be"),
        ("research", "line\nbreak", "subject must be"),
    ],
)
def test_a_tenant_or_subject_of_the_wrong_shape_is_refused(
    world: World, tenant: str, subject: str, words: str
) -> None:
    refused = world.refused(bearer(world.token(tenant=tenant, sub=subject)))
    assert refused["method"] == "jwt" and words in refused["reason"]
    assert len(refused["subject"]) <= 128


def test_the_longest_names_pass(world: World) -> None:
    principal = world.identity.authenticate(bearer(world.token(tenant="T." * 32, sub="s" * 128)))
    assert principal.tenant == "T." * 32 and len(principal.subject) == 128


def test_a_deleted_tenant_is_refused_by_every_method(world: World) -> None:
    key = world.api_key()
    token = world.token()
    certificate = Credentials(certificate_names=("worker.research.example",))
    for credentials in (bearer(key), bearer(token), certificate):
        world.identity.authenticate(credentials)
    world.keys.delete_tenant("research", world.wall.now)
    world.monotonic.now += world.settings.api_key_cache_s  # the cache window has passed
    assert world.refused(bearer(key)) == {
        "method": "api_key",
        "reason": "tenant deleted",
        "subject": apikeys.parse(key)[0],  # type: ignore[index]
    }
    assert world.refused(bearer(token)) == {"method": "jwt", "reason": "tenant deleted", "subject": "alice"}
    assert world.refused(certificate) == {"method": "mtls", "reason": "tenant deleted", "subject": "worker"}
    other = world.api_key(tenant="lab")
    assert world.identity.authenticate(bearer(other)).tenant == "lab"


def test_a_revoked_key_is_refused_within_the_cache_window_and_reads_are_cached(world: World) -> None:
    key = world.api_key()
    record_id = apikeys.parse(key)[0]  # type: ignore[index]
    world.identity.authenticate(bearer(key))
    reads = world.keys.reads
    for _ in range(500):
        world.identity.authenticate(bearer(key))
        world.identity.authenticate(bearer(world.token()))
    assert world.keys.reads == reads  # no store read per call within the window
    world.keys.revoke(record_id, world.wall.now)
    world.monotonic.now += 0.999
    world.identity.authenticate(bearer(key))
    world.monotonic.now += 0.001
    assert world.refused(bearer(key))["reason"] == "revoked"


def test_no_secret_in_refusals_or_audit_events(world: World) -> None:
    recorded: list[AuditEvent] = []

    class Audit:
        def record(self, event: AuditEvent) -> None:
            recorded.append(event)

    guard = Guard(world.identity, audit=Audit())
    key = world.api_key()
    parsed = apikeys.parse(key)  # the secret may hold "_": parse, not split
    assert parsed is not None
    secret = parsed[1]
    wrong = key[:-2] + "zz"
    for credentials in (bearer(wrong), bearer(key), Credentials(headers={"x-api-key": wrong})):
        try:
            guard.authenticate(credentials, "GetJob")
        except Unauthenticated as exc:
            assert secret not in str(exc) and secret[:-2] not in repr(exc.metadata)
    assert [e.outcome for e in recorded] == ["failure", "success", "failure"]
    assert all(secret[:-2] not in repr(e) for e in recorded)
    assert recorded[0].method == "api_key" and recorded[0].subject == apikeys.parse(key)[0]  # type: ignore[index]
    assert recorded[1].subject == "ci-bot" and recorded[1].tenant == "research"
