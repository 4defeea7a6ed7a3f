"""JWT bearer tokens of an identity provider, verified with PyJWT.

The signing keys come from a JWKS: a URL (``jwt_jwks_url``, through ``jwt.PyJWKClient``:
the set is cached for ``jwks_cache_s``, and a token naming an unknown ``kid`` makes it
fetch the set again, at most once per ``refetch_cooldown_s``, so a key the provider
rotated in works at once and made-up ``kid`` values cannot make us hammer the provider;
while the provider cannot be reached the keys it served before keep working) or a file
(``jwt_jwks_file``, read once). A token must carry ``iss``, ``aud`` and ``exp`` with the
configured issuer and audience; ``nbf`` and ``iat`` are checked when present, with
``jwt_leeway_s`` of clock skew.

A client sends the same token on every call until it expires, and a signature check (with
PyJWT's parsing) costs a good part of a millisecond, so a verified token is remembered
(the exact text, up to 10,000 of them) until it expires, or for at most ``jwks_cache_s``,
the time the key set itself is trusted. A changed byte is another text: verified in full.

Algorithms are pinned: the token's ``alg`` must be one of ``jwt_algorithms`` (asymmetric
ones only), and the key it is checked with is bound to its own algorithm (a JWK's
``alg``, or the one its key type implies), so a token cannot choose how it is verified.
``none`` is never accepted; HS256 only when ``jwt_hmac_secret`` is set, and then checked
with that secret alone, never with a public key (the algorithm confusion attack).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from eigen.config.errors import InvalidSetting
from eigen.config.settings import Settings
from eigen.errors import Unauthenticated, Unavailable, bounded, quote

HMAC_ALGORITHMS = frozenset({"HS256"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
log = logging.getLogger(__name__)

REQUIRED_CLAIMS = ("iss", "aud", "exp")
REFETCH_COOLDOWN_S = 30.0
FETCH_TIMEOUT_S = 5.0
ROLES_MAX = 64  # roles kept of one token
VERIFIED_MAX = 10_000  # tokens remembered as verified
KNOWN_KEYS_MAX = 64  # keys of the provider kept for its outages
RETRY_AFTER_FAILURE_S = 30.0  # a JWKS that could not be fetched is not asked again before


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says about its bearer (tenant and subject not yet checked
    for shape: the authenticator does that for every method alike)."""

    tenant: str
    subject: str
    roles: frozenset[str]


def refused(reason: str, subject: str = "") -> Unauthenticated:
    return Unauthenticated(
        f"token refused: {reason}", metadata={"method": "jwt", "reason": reason, "subject": subject}
    )


def is_token(text: str) -> bool:
    """Whether ``text`` has the shape of a JWT (three segments, two dots)."""
    return text.count(".") == 2


def roles_of(value: object) -> frozenset[str]:
    """Roles from a claim: a list of names or one space-separated string (unknown names
    are kept; they grant nothing)."""
    if isinstance(value, str):
        names: Sequence[object] = value.split()
    elif isinstance(value, list | tuple):
        names = value
    else:
        return frozenset()
    return frozenset(n for n in names[:ROLES_MAX] if isinstance(n, str) and n)


class TokenVerifier:
    """Verifies tokens against a JWKS (from a URL or a file) and, when configured on
    purpose, an HS256 shared secret."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: Sequence[str],
        leeway_s: float = 30.0,
        tenant_claim: str = "tenant",
        subject_claim: str = "sub",
        roles_claim: str = "roles",
        jwks_client: jwt.PyJWKClient | None = None,
        jwks: jwt.PyJWKSet | None = None,
        hmac_secret: bytes | None = None,
        remember_s: float = 300.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithms = frozenset(algorithms)
        self.leeway_s = leeway_s
        self.tenant_claim = tenant_claim
        self.subject_claim = subject_claim
        self.roles_claim = roles_claim
        self.jwks_client = jwks_client
        self.jwks = jwks
        self._hmac_secret = hmac_secret
        self._options: Any = {"require": list(REQUIRED_CLAIMS)}
        self.remember_s = remember_s
        self.now = now
        self._verified: OrderedDict[str, tuple[float, TokenClaims]] = OrderedDict()
        self._known: dict[str, jwt.PyJWK] = {}  # keys the provider served, for its outages
        self._failed_at: float | None = None  # when fetching its set last failed
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenVerifier(issuer={self.issuer!r}, audience={self.audience!r})"

    def verify(self, token: str) -> TokenClaims:
        """The claims of ``token``, or UNAUTHENTICATED saying why not (UNAVAILABLE when the
        JWKS cannot be fetched: the token may well be good)."""
        now = self.now()
        with self._lock:
            seen = self._verified.get(token)
            if seen is not None and now < seen[0]:
                self._verified.move_to_end(token)
                return seen[1]
        claims, expires = self._verify(token)
        until = min(expires + self.leeway_s, now + self.remember_s)
        with self._lock:
            self._verified[token] = (until, claims)
            self._verified.move_to_end(token)
            while len(self._verified) > VERIFIED_MAX:
                self._verified.popitem(last=False)
        return claims

    def _verify(self, token: str) -> tuple[TokenClaims, float]:
        """The claims of ``token`` and its ``exp``, checked in full."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise refused("malformed token") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise refused(f"algorithm {quote(alg, 20)} not accepted")
        key = self._key(alg, header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options=self._options,
            )
        except jwt.ExpiredSignatureError:
            raise refused("expired") from None
        except jwt.ImmatureSignatureError:
            raise refused("not yet valid") from None
        except jwt.InvalidIssuerError:
            raise refused("wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise refused("wrong audience") from None
        except jwt.InvalidSignatureError:
            raise refused("bad signature") from None
        except jwt.MissingRequiredClaimError as exc:
            raise refused(f"missing claim {quote(exc.claim, 40)}") from None
        except jwt.InvalidTokenError as exc:
            raise refused(f"invalid token ({type(exc).__name__})") from None
        return self._claims(claims), float(claims["exp"])

    def _key(self, alg: str, kid: object) -> jwt.PyJWK | bytes:
        if alg in HMAC_ALGORITHMS:
            if self._hmac_secret is None:  # not in self.algorithms then; kept as a guard
                raise refused(f"algorithm {alg} not accepted")
            return self._hmac_secret
        if not isinstance(kid, str) or not kid:
            raise refused("no kid in the token header")
        if self.jwks_client is not None:
            return self._fetched_key(self.jwks_client, kid)
        if self.jwks is not None:
            try:
                return self.jwks[kid]
            except KeyError:
                raise refused(f"unknown kid {quote(kid, 40)}") from None
        raise refused("no JWKS configured for asymmetric tokens")

    def _fetched_key(self, client: jwt.PyJWKClient, kid: str) -> jwt.PyJWK:
        """The key ``kid`` of the provider's set. While the provider cannot be reached, the
        keys it served before still verify, and it is asked again only after
        ``RETRY_AFTER_FAILURE_S``: an outage costs one fetch timeout per interval, not one
        per call. A kid never seen answers UNAVAILABLE then (the token may well be good)."""
        now = self.now()
        failed = self._failed_at
        if failed is None or now - failed >= RETRY_AFTER_FAILURE_S:
            try:
                key = client.get_signing_key(kid)
            except jwt.PyJWKClientConnectionError as exc:
                self._failed_at = now
                log.warning(
                    "JWKS not fetched: using the keys fetched before",
                    extra={"url": client.uri, "reason": bounded(str(exc), 300)},
                )
            except (jwt.PyJWKClientError, jwt.PyJWKSetError):
                raise refused(f"unknown kid {quote(kid, 40)}") from None
            else:
                self._failed_at = None
                with self._lock:
                    self._known[kid] = key
                    while len(self._known) > KNOWN_KEYS_MAX:
                        self._known.pop(next(iter(self._known)))
                return key
        with self._lock:
            known = self._known.get(kid)
        if known is None:
            raise Unavailable(
                "cannot fetch the identity provider's JWKS (jwt_jwks_url)", metadata={"method": "jwt"}
            )
        return known

    def _claims(self, claims: Mapping[str, Any]) -> TokenClaims:
        subject = claims.get(self.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise refused(f"missing claim {quote(self.subject_claim, 40)}")
        tenant = claims.get(self.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise refused(f"missing tenant claim {quote(self.tenant_claim, 40)}", bounded(subject, 128))
        return TokenClaims(tenant, subject, roles_of(claims.get(self.roles_claim)))


def configured(settings: Settings) -> bool:
    """Whether JWT is on: a JWKS (URL or file) or an HMAC secret is set."""
    return bool(settings.jwt_jwks_url or settings.jwt_jwks_file or settings.jwt_hmac_secret)


def accepted_algorithms(settings: Settings) -> frozenset[str]:
    """``jwt_algorithms`` checked: asymmetric ones, plus HS256 when ``jwt_hmac_secret``
    is set; ``none``, or HMAC without the secret, is a settings error."""
    chosen = set(settings.jwt_algorithms)
    for name in sorted(chosen):
        if name in ASYMMETRIC_ALGORITHMS or (name in HMAC_ALGORITHMS and settings.jwt_hmac_secret):
            continue
        why = "is never accepted" if name.lower() == "none" else "is not an accepted algorithm"
        if name in HMAC_ALGORITHMS:
            why = "needs jwt_hmac_secret"
        raise InvalidSetting.for_field("jwt_algorithms", f"{quote(name, 20)} {why}")
    if settings.jwt_hmac_secret is not None:
        chosen |= HMAC_ALGORITHMS
    return frozenset(chosen)


def verifier_from(
    settings: Settings, *, refetch_cooldown_s: float = REFETCH_COOLDOWN_S
) -> TokenVerifier | None:
    """The verifier the settings describe, None when JWT is off; a settings error when
    JWT is on without an issuer or an audience, or with a JWKS file that cannot be read."""
    if not configured(settings):
        return None
    for name in ("jwt_issuer", "jwt_audience"):
        if not getattr(settings, name):
            raise InvalidSetting.for_field(name, "required when JWT is on (a JWKS or jwt_hmac_secret is set)")
    client = None
    if settings.jwt_jwks_url:
        try:
            client = jwt.PyJWKClient(
                settings.jwt_jwks_url,
                lifespan=settings.jwks_cache_s,
                timeout=FETCH_TIMEOUT_S,
                cooldown_duration=refetch_cooldown_s,
            )
        except jwt.PyJWKClientError as exc:
            raise InvalidSetting.for_field("jwt_jwks_url", str(exc)) from None
    keys = None
    if settings.jwt_jwks_file is not None:
        keys = _jwks_file(settings.jwt_jwks_file)
    secret = settings.jwt_hmac_secret
    return TokenVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        algorithms=sorted(accepted_algorithms(settings)),
        leeway_s=settings.jwt_leeway_s,
        tenant_claim=settings.jwt_tenant_claim,
        subject_claim=settings.jwt_subject_claim,
        roles_claim=settings.jwt_roles_claim,
        jwks_client=client,
        jwks=keys,
        hmac_secret=None if secret is None else secret.get_secret_value().encode(),
        remember_s=settings.jwks_cache_s,
    )


def _jwks_file(path: Path) -> jwt.PyJWKSet:
    try:
        return jwt.PyJWKSet.from_json(path.read_text())
    except (OSError, ValueError, jwt.PyJWKError, jwt.PyJWKSetError) as exc:
        raise InvalidSetting.for_field("jwt_jwks_file", f"cannot read {path}: {exc}") from None
