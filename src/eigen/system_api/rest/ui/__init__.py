"""The web dashboard, served at ``/ui/`` beside the REST API it talks to.

The dashboard is static files only (HTML, CSS and JavaScript modules in :data:`STATIC`,
packaged with the wheel): the browser reads everything through the public REST API
(``/v1/jobs``, ``/v1/backends``, the job's server-sent events), with the same
authentication and tenancy as any other client. Nothing here reads the service layer, so
the dashboard can show nothing a REST caller could not see. See docs/dashboard.md.

The files are public (like ``/docs``): they hold no data and no secret; a server with
``auth_required`` answers the API calls they make only with a credential. So is
``/ui/config.json``, what the page needs before it signs in: the OpenID Connect provider
it may sign in with (:class:`OidcLogin`: the page runs the authorization code flow with
PKCE itself, and the content security policy lets it reach that provider), or none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.responses import JSONResponse, RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

PATH = "/ui"
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class OidcLogin:
    """The OpenID Connect provider the page signs in with (settings ``oidc_*``): its issuer
    URL (discovery at ``/.well-known/openid-configuration``), the page's client id there (a
    public client) and the scopes it asks for. Its discovery and token endpoints must be
    at the issuer's origin, the one the page may reach besides its own."""

    issuer: str
    client_id: str
    scopes: str = "openid"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"


def csp(oidc: OidcLogin | None = None) -> str:
    """The page loads only its own files and talks only to its own origin (and to its
    OpenID Connect provider's, to sign in); no inline script."""
    connect = "'self'" + (f" {oidc.origin}" if oidc is not None else "")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    )


CSP = csp()


class DashboardFiles(StaticFiles):
    """The dashboard's files with headers that keep them from being framed or sniffed and
    keep a stale page from outliving an upgrade (``no-cache``: revalidated by ETag)."""

    def __init__(self, *, directory: Path, policy: str = CSP) -> None:
        super().__init__(directory=directory, html=True)
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))  # type: ignore[call-overload]
                headers += [
                    (b"content-security-policy", self.policy.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-cache"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)  # type: ignore[arg-type]


def install_ui(app: FastAPI, oidc: OidcLogin | None = None) -> None:
    """Serve the dashboard at ``/ui/`` (``/ui`` redirects there) on ``app``, signing in
    with ``oidc`` where one is given."""
    config = {
        "oidc": None
        if oidc is None
        else {"issuer": oidc.issuer, "client_id": oidc.client_id, "scopes": oidc.scopes}
    }

    @app.get(PATH, include_in_schema=False)
    async def ui_root() -> RedirectResponse:
        return RedirectResponse(f"{PATH}/", status_code=307)

    @app.get(f"{PATH}/config.json", include_in_schema=False)
    async def ui_config() -> JSONResponse:
        return JSONResponse(config, headers={"cache-control": "no-cache"})

    app.mount(PATH, DashboardFiles(directory=STATIC, policy=csp(oidc)), name="ui")
