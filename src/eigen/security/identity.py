"""The authenticator both edges use: the credentials of a call in, its principal out.

Methods, in order: a client certificate (mTLS), then a bearer token (JWT), then an API
key. The first credential a call presents decides: one that fails is refused, never
passed on to a weaker method or to anonymous. A JWT and an API key are told apart by
shape (an API key starts with ``eig_``, a JWT has two dots); either comes as
``authorization: Bearer <credential>``, an API key also as ``x-api-key: <key>``.

Whatever the method, the principal's tenant must be a tenant name (up to 64 of
``A-Za-z0-9._-``) the server has not deleted, and its subject must fit ``jobs.owner``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping

from eigen.config.settings import Settings
from eigen.errors import Unauthenticated
from eigen.models.credentials import TENANT_MAX, TENANT_NAME, KeyStore
from eigen.models.limits import OWNER_MAX
from eigen.models.principal import Principal
from eigen.security import apikeys, mtls, tokens
from eigen.security.apikeys import ApiKeyVerifier, CachedKeyStore
from eigen.security.authenticator import Credentials
from eigen.security.policy import PolicySource
from eigen.security.tokens import REFETCH_COOLDOWN_S, TokenVerifier

NO_CREDENTIAL = (
    "no credential: send authorization: Bearer <API key or token>, x-api-key, or a client certificate"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _refused(method: str, reason: str, subject: str = "") -> Unauthenticated:
    return Unauthenticated(
        f"credential refused: {reason}", metadata={"method": method, "reason": reason, "subject": subject}
    )


def presented(headers: Mapping[str, str]) -> str | None:
    """The bearer credential of a call: ``authorization: Bearer X``, else ``x-api-key``;
    None when there is neither. An ``authorization`` header of another scheme is refused."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _refused("none", "authorization is not 'Bearer <API key or token>'")
        return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


class Identity:
    """The :class:`~eigen.security.authenticator.Authenticator` of the public edges.

    ``keys`` (the key store, cached) verifies API keys and knows deleted tenants; None:
    API keys are off. ``tokens`` verifies JWTs; None: JWT is off. ``policy`` maps client
    certificates; None: every certificate is refused.
    """

    def __init__(
        self,
        *,
        keys: CachedKeyStore | None = None,
        api_keys: ApiKeyVerifier | None = None,
        tokens: TokenVerifier | None = None,
        policy: PolicySource | None = None,
    ) -> None:
        self.keys = keys
        self.api_keys = api_keys
        self.tokens = tokens
        self.policy = policy

    def __repr__(self) -> str:
        on = [name for name, part in (("api_key", self.api_keys), ("jwt", self.tokens)) if part]
        return f"Identity(methods={['mtls', *on]})"

    def close(self) -> None:
        """Stop the background reads of the key cache (the key store stays open)."""
        if self.keys is not None:
            self.keys.close()

    def authenticate(self, credentials: Credentials) -> Principal:
        if credentials.certificate_names:
            principal = mtls.certificate_principal(credentials.certificate_names, self.policy)
            return self._checked(principal, principal.subject[:OWNER_MAX])
        credential = presented(credentials.headers)
        if credential is None:
            raise Unauthenticated(NO_CREDENTIAL, metadata={"method": "none", "reason": "no credential"})
        if apikeys.is_api_key(credential):
            return self._api_key(credential)
        if tokens.is_token(credential):
            return self._token(credential)
        raise _refused("none", "neither an API key (eig_...) nor a JWT")

    def _api_key(self, key: str) -> Principal:
        if self.api_keys is None:
            raise apikeys.refused("API keys are not enabled on this server")
        record = self.api_keys.verify(key)
        principal = Principal(record.tenant, record.name, frozenset({record.role}), "api_key")
        return self._checked(principal, record.key_id)

    def _token(self, token: str) -> Principal:
        if self.tokens is None:
            raise tokens.refused("JWT is not enabled on this server (jwt_jwks_url, jwt_jwks_file)")
        claims = self.tokens.verify(token)
        principal = Principal(claims.tenant, claims.subject, claims.roles, "jwt")
        return self._checked(principal, claims.subject[:OWNER_MAX])

    def _checked(self, principal: Principal, shown: str) -> Principal:
        """``principal`` if its tenant and subject have a valid shape and its tenant is
        not deleted; else UNAUTHENTICATED of its method (naming ``shown`` as subject: an
        API key's id, a token's or certificate's subject, cut to size)."""
        method, subject = principal.method, principal.subject
        if not TENANT_NAME.fullmatch(principal.tenant):
            raise _refused(method, f"tenant must be 1 to {TENANT_MAX} of A-Za-z0-9._-", shown)
        if not subject or len(subject) > OWNER_MAX or _CONTROL.search(subject):
            raise _refused(method, f"subject must be 1 to {OWNER_MAX} printable characters", shown)
        if self.keys is not None:
            tenant = self.keys.tenant(principal.tenant)
            if tenant is not None and tenant.deleted:
                raise _refused(method, "tenant deleted", shown)
        return principal


def authenticator_from(
    settings: Settings,
    keys: KeyStore | None,
    policy: PolicySource | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], float] = time.time,
    refetch_cooldown_s: float = REFETCH_COOLDOWN_S,
) -> Identity | None:
    """The authenticator the settings describe, None while ``auth_required`` is off (what
    :class:`~eigen.security.guard.Guard` takes as "authentication off"). ``keys`` (the
    server's key store; None: no API keys) is read at most once per key and tenant per
    ``api_key_cache_s``; JWT is on when a JWKS or ``jwt_hmac_secret`` is set. A settings
    error (:class:`~eigen.config.errors.InvalidSetting`) for an unusable JWT setup."""
    if not settings.auth_required:
        return None
    cached = None if keys is None else CachedKeyStore(keys, settings.api_key_cache_s, clock)
    verifier = None if cached is None else ApiKeyVerifier(cached, apikeys.server_secret(settings), now)
    return Identity(
        keys=cached,
        api_keys=verifier,
        tokens=tokens.verifier_from(settings, refetch_cooldown_s=refetch_cooldown_s),
        policy=policy,
    )
