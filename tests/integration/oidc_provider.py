"""A test double of an OpenID Connect provider on 127.0.0.1 (port 0), for the dashboard's
sign-in: discovery, the authorization endpoint (it signs the configured user in at once,
as a provider with a live session would, and redirects back with a code), the token
endpoint (authorization code with PKCE, S256 only) and the JWKS.

Tokens are signed by a :class:`~tests.unit.security.test_tokens.SigningKey`; their
issuer is this provider's URL. Each code is good once, for the client, redirect URI and
challenge it was issued for; ``exchanges`` counts the tokens issued.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.unit.security.test_tokens import AUDIENCE, QuietHandler, SigningKey

CLIENT_ID = "eigen-dashboard"


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier`` (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcProvider:
    def __init__(self, key: SigningKey, *, user: dict[str, Any]) -> None:
        """``user``: the claims of whoever signs in (sub, tenant, roles)."""
        self.key = key
        self.user = dict(user)
        self.exchanges = 0
        self.refusals: list[str] = []  # why token requests were refused
        self._codes: dict[str, dict[str, str]] = {}
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/.well-known/openid-configuration":
                    self._json(200, owner.discovery())
                elif path == "/jwks":
                    self._json(200, {"keys": [owner.key.jwk]})
                elif path == "/authorize":
                    self._authorize({k: v[0] for k, v in parse_qs(query).items()})
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if self.path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                length = int(self.headers.get("content-length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = owner.exchange(form)
                self._json(status, body)

            def _authorize(self, query: dict[str, str]) -> None:
                if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256":
                    self._json(400, {"error": "invalid_request"})
                    return
                code = secrets.token_urlsafe(16)
                owner._codes[code] = {
                    "challenge": query.get("code_challenge", ""),
                    "redirect_uri": query.get("redirect_uri", ""),
                }
                back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
                self.send_response(302)
                self.send_header("location", back)
                self.end_headers()

            def _json(self, status: int, body: dict[str, Any]) -> None:
                # the page calls the provider from its own origin
                self.send_json(status, body, {"access-control-allow-origin": "*"})

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": self.jwks_url,
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        }

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The token endpoint: a code for tokens, once, with its verifier."""
        issued = self._codes.pop(form.get("code", ""), None)
        why = ""
        if form.get("grant_type") != "authorization_code":
            why = "grant_type"
        elif issued is None:
            why = "unknown or used code"
        elif form.get("client_id") != CLIENT_ID:
            why = "client_id"
        elif form.get("redirect_uri") != issued["redirect_uri"]:
            why = "redirect_uri"
        elif s256(form.get("code_verifier", "")) != issued["challenge"]:
            why = "code_verifier"
        if why:
            self.refusals.append(why)
            return 400, {"error": "invalid_grant", "error_description": why}
        self.exchanges += 1
        claims = {**self.user, "iss": self.issuer, "aud": AUDIENCE}
        token = self.key.sign(claims)
        return 200, {"access_token": token, "id_token": token, "token_type": "Bearer", "expires_in": 600}

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join()
