"""JWT bearer tokens: signed with PyJWT by keys made with ``cryptography``, verified against
a real JWKS served over local HTTP (and from a file)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from eigen.config.errors import InvalidSetting
from eigen.config.settings import Settings
from eigen.errors import Unauthenticated, Unavailable
from eigen.security import tokens
from eigen.security.tokens import TokenClaims, TokenVerifier

ISSUER = "https://idp.example"
AUDIENCE = "eigen"


class SigningKey:
    """A private key of the identity provider and its public JWK."""

    def __init__(self, kid: str, alg: str = "RS256") -> None:
        self.kid = kid
        self.alg = alg
        if alg.startswith(("RS", "PS")):
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
        algorithm = jwt.get_algorithm_by_name(alg)
        self.jwk = {
            **json.loads(algorithm.to_jwk(self.private.public_key())),
            "kid": kid,
            "alg": alg,
            "use": "sig",
        }

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any] | None = None, *, kid: str | None = None, **changes: Any) -> str:
        return jwt.encode(
            good_claims(claims, **changes), self.private, algorithm=self.alg, headers={"kid": kid or self.kid}
        )


def good_claims(claims: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    now = time.time()
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now + 600,
        "iat": now,
        "sub": "alice@example",
        "tenant": "research",
        "roles": ["submitter"],
    }
    base.update(claims or {})
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


class QuietHandler(BaseHTTPRequestHandler):
    """A test server's request handler: no access log, and JSON answers."""

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 (port 0) in a thread; ``keys`` can change under it and
    ``fetches`` counts the requests it answered."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.failing = False  # answer 503, as a provider in trouble
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                if owner.failing:
                    self.send_error(503)
                    return
                self.send_json(200, {"keys": [k.jwk for k in owner.keys]})

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/.well-known/jwks.json"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey("rsa-1", "RS256")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey("ec-1", "ES256")


@pytest.fixture
def server(rsa_key: SigningKey, ec_key: SigningKey) -> Iterator[JwksServer]:
    running = JwksServer(rsa_key, ec_key)
    yield running
    running.close()


def settings_of(**values: Any) -> Settings:
    return Settings(**{"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "jwt_leeway_s": 5.0, **values})


def verifier(server: JwksServer, cooldown_s: float = 0.0, **values: Any) -> TokenVerifier:
    made = tokens.verifier_from(settings_of(jwt_jwks_url=server.url, **values), refetch_cooldown_s=cooldown_s)
    assert made is not None
    return made


def refusal(check: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        check.verify(token)
    assert caught.value.metadata["method"] == "jwt"
    return caught.value.metadata["reason"]


def test_a_valid_token_names_its_tenant_subject_and_roles(
    server: JwksServer, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    check = verifier(server)
    assert check.verify(rsa_key.sign()) == TokenClaims("research", "alice@example", frozenset({"submitter"}))
    assert check.verify(ec_key.sign(sub="bob")).subject == "bob"
    assert server.fetches == 1  # the set is cached: one fetch for both keys


def test_roles_are_a_list_or_a_space_separated_string_and_unknown_ones_are_kept(
    server: JwksServer, rsa_key: SigningKey
) -> None:
    check = verifier(server)
    assert check.verify(rsa_key.sign(roles="viewer  submitter")).roles == {"viewer", "submitter"}
    assert check.verify(rsa_key.sign(roles=["viewer", "wizard", 7])).roles == {"viewer", "wizard"}
    assert check.verify(rsa_key.sign(roles=None)).roles == frozenset()


def test_the_claims_it_reads_are_configurable(server: JwksServer, rsa_key: SigningKey) -> None:
    check = verifier(server, jwt_tenant_claim="org", jwt_subject_claim="email", jwt_roles_claim="scope")
    token = rsa_key.sign(org="lab", email="carol@lab", scope="viewer", tenant=None)
    assert check.verify(token) == TokenClaims("lab", "carol@lab", frozenset({"viewer"}))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": -60}, "expired"),
        ({"nbf": 120}, "not yet valid"),
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"aud": "someone-else"}, "wrong audience"),
        ({"exp": None}, "missing claim 'exp'"),
        ({"aud": None}, "missing claim 'aud'"),
        ({"iss": None}, "missing claim 'iss'"),
        ({"tenant": None}, "missing tenant claim 'tenant'"),
        ({"sub": None}, "missing claim 'sub'"),
    ],
)
def test_a_token_with_bad_claims_is_refused(
    server: JwksServer, rsa_key: SigningKey, changes: dict[str, Any], reason: str
) -> None:
    now = time.time()
    timed = {k: now + v if k in ("exp", "nbf") and v is not None else v for k, v in changes.items()}
    assert refusal(verifier(server), rsa_key.sign(timed)) == reason


def test_the_leeway_allows_a_little_clock_skew(server: JwksServer, rsa_key: SigningKey) -> None:
    check = verifier(server)  # 5 s
    assert check.verify(rsa_key.sign(exp=time.time() - 2)).tenant == "research"
    assert refusal(check, rsa_key.sign(exp=time.time() - 20)) == "expired"


def test_alg_none_is_refused(server: JwksServer) -> None:
    unsigned = jwt.encode(good_claims(), "", algorithm="none", headers={"kid": "rsa-1"})
    assert refusal(verifier(server), unsigned) == "algorithm 'none' not accepted"


def test_hmac_signed_with_the_public_key_is_refused(server: JwksServer, rsa_key: SigningKey) -> None:
    """Algorithm confusion: HS256 with the RSA public key (which the attacker knows) as the
    shared secret. PyJWT refuses to encode that, so sign it with hmac by hand."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": rsa_key.kid}).encode())
    payload = b64(json.dumps(good_claims()).encode())
    signature = b64(hmac.new(rsa_key.public_pem, header + b"." + payload, hashlib.sha256).digest())
    forged = (header + b"." + payload + b"." + signature).decode()
    assert refusal(verifier(server), forged) == "algorithm 'HS256' not accepted"
    # and with an HMAC secret configured, HS256 is checked with that secret alone
    assert refusal(verifier(server, jwt_hmac_secret="s" * 32), forged) == "bad signature"


def test_a_tampered_signature_or_payload_is_refused(server: JwksServer, rsa_key: SigningKey) -> None:
    check = verifier(server)
    token = rsa_key.sign()
    head, body, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert refusal(check, f"{head}.{body}.{flipped}") == "bad signature"
    other = rsa_key.sign(tenant="admin-tenant").split(".")[1]
    assert refusal(check, f"{head}.{other}.{signature}") == "bad signature"
    assert refusal(check, "not.a.token") == "malformed token"


def test_a_key_with_a_different_algorithm_than_the_token_says_is_refused(
    server: JwksServer, rsa_key: SigningKey
) -> None:
    """The JWK's alg (RS256) binds the key: a PS256 token under its kid does not verify."""
    token = jwt.encode(good_claims(), rsa_key.private, algorithm="PS256", headers={"kid": rsa_key.kid})
    assert refusal(verifier(server), token).startswith("invalid token")


def test_an_unknown_kid_refetches_the_set_then_refuses(server: JwksServer, rsa_key: SigningKey) -> None:
    check = verifier(server)
    check.verify(rsa_key.sign())
    assert server.fetches == 1
    stranger = SigningKey("stranger")
    assert refusal(check, stranger.sign()) == "unknown kid 'stranger'"
    assert server.fetches == 2  # looked again before refusing


def test_a_key_rotated_in_works_at_once(server: JwksServer, rsa_key: SigningKey) -> None:
    check = verifier(server)
    check.verify(rsa_key.sign())
    rotated = SigningKey("rsa-2")
    server.keys.append(rotated)
    assert check.verify(rotated.sign()).subject == "alice@example"
    assert server.fetches == 2


def test_unknown_kids_refetch_at_most_once_per_cooldown(server: JwksServer, rsa_key: SigningKey) -> None:
    check = verifier(server, cooldown_s=60.0)
    check.verify(rsa_key.sign())
    for number in range(20):
        refusal(check, SigningKey(f"made-up-{number}", "ES256").sign())
    assert server.fetches == 1  # the first fetch started the cooldown: made-up kids cost nothing


def test_no_kid_is_refused(server: JwksServer, rsa_key: SigningKey) -> None:
    token = jwt.encode(good_claims(), rsa_key.private, algorithm="RS256")
    assert refusal(verifier(server), token) == "no kid in the token header"


def test_an_unreachable_jwks_is_unavailable_not_a_bad_token(rsa_key: SigningKey) -> None:
    down = JwksServer()
    url = down.url
    down.close()
    check = tokens.verifier_from(settings_of(jwt_jwks_url=url))
    assert check is not None
    with pytest.raises(Unavailable):
        check.verify(rsa_key.sign())


def test_a_jwks_file(tmp_path: Path, rsa_key: SigningKey) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa_key.jwk]}))
    check = tokens.verifier_from(settings_of(jwt_jwks_file=path))
    assert check is not None
    assert check.verify(rsa_key.sign()).tenant == "research"
    assert refusal(check, SigningKey("other").sign()) == "unknown kid 'other'"
    path.write_text("{not json")
    with pytest.raises(InvalidSetting, match="jwt_jwks_file"):
        tokens.verifier_from(settings_of(jwt_jwks_file=path))


def test_hs256_only_with_a_shared_secret_set_on_purpose(server: JwksServer) -> None:
    secret = "a-shared-secret-of-32-characters!"
    token = jwt.encode(good_claims(), secret, algorithm="HS256")
    assert verifier(server, jwt_hmac_secret=secret).verify(token).tenant == "research"
    assert refusal(verifier(server), token) == "algorithm 'HS256' not accepted"
    wrong = jwt.encode(good_claims(), "another-secret-of-32-characters!!", algorithm="HS256")
    assert refusal(verifier(server, jwt_hmac_secret=secret), wrong) == "bad signature"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"jwt_algorithms": ["RS256", "none"]}, "jwt_algorithms"),
        ({"jwt_algorithms": ["HS256"]}, "jwt_algorithms"),
        ({"jwt_algorithms": ["XX999"]}, "jwt_algorithms"),
        ({"jwt_issuer": ""}, "jwt_issuer"),
        ({"jwt_audience": ""}, "jwt_audience"),
    ],
)
def test_an_unsafe_jwt_setup_is_a_settings_error(values: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSetting, match=field):
        tokens.verifier_from(settings_of(jwt_jwks_url="http://127.0.0.1:1/jwks", **values))


def test_jwt_is_off_without_a_jwks_or_secret() -> None:
    assert tokens.verifier_from(Settings()) is None


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_verified_token_is_remembered_until_it_expires_or_the_set_is_stale(
    server: JwksServer, rsa_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    check = verifier(server, jwks_cache_s=60.0)
    check.now = clock
    full: list[str] = []
    real = check._verify

    def counted(token: str) -> tuple[TokenClaims, float]:
        full.append(token)
        return real(token)

    monkeypatch.setattr(check, "_verify", counted)
    token = rsa_key.sign(exp=clock.now + 30)
    for _ in range(100):
        check.verify(token)
    assert len(full) == 1
    clock.now += 30 + 5 + 1  # past exp and the leeway: not answered from memory
    check.verify(token)  # (PyJWT checks exp on the real clock, which has not moved)
    assert len(full) == 2
    long_lived = rsa_key.sign()
    check.verify(long_lived)
    clock.now += 59
    check.verify(long_lived)
    assert len(full) == 3  # within jwks_cache_s: remembered
    clock.now += 2
    check.verify(long_lived)
    assert len(full) == 4  # past it: checked in full, against the key set as it is now


def test_while_the_provider_is_down_the_keys_it_served_keep_working(
    server: JwksServer, rsa_key: SigningKey
) -> None:
    check = verifier(server)
    # no set cache: every new token asks the provider, as each one does once the cache expired
    check.jwks_client = jwt.PyJWKClient(server.url, cache_jwk_set=False)
    clock = Clock()
    check.now = clock
    check.verify(rsa_key.sign())
    fetched = server.fetches
    server.failing = True
    assert check.verify(rsa_key.sign(sub="during")).subject == "during"
    assert server.fetches == fetched + 1
    for number in range(10):
        check.verify(rsa_key.sign(sub=f"user-{number}"))
    assert server.fetches == fetched + 1  # not asked again within RETRY_AFTER_FAILURE_S
    with pytest.raises(Unavailable):
        check.verify(SigningKey("never-seen", "ES256").sign())
    clock.now += tokens.RETRY_AFTER_FAILURE_S
    server.failing = False
    assert check.verify(rsa_key.sign(sub="after")).subject == "after"
    assert server.fetches == fetched + 2
