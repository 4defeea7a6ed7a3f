"""The web dashboard, served at ``/ui/`` beside the REST API it talks to.

The dashboard is static files only (HTML, CSS and JavaScript modules in :data:`STATIC`,
packaged with the wheel): the browser reads everything through the public REST API
(``/v1/jobs``, ``/v1/backends``, the job's server-sent events), with the same
authentication and tenancy as any other client. Nothing here reads the service layer, so
the dashboard can show nothing a REST caller could not see. See docs/dashboard.md.

The files are public (like ``/docs``): they hold no data and no secret; a server with
``auth_required`` answers the API calls they make only with a credential.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

PATH = "/ui"
STATIC = Path(__file__).parent / "static"

# The page only loads its own files and talks to its own origin; no inline script.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class DashboardFiles(StaticFiles):
    """The dashboard's files with headers that keep them from being framed or sniffed and
    keep a stale page from outliving an upgrade (``no-cache``: revalidated by ETag)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))  # type: ignore[call-overload]
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-cache"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)  # type: ignore[arg-type]


def install_ui(app: FastAPI) -> None:
    """Serve the dashboard at ``/ui/`` (``/ui`` redirects there) on ``app``."""

    @app.get(PATH, include_in_schema=False)
    async def ui_root() -> RedirectResponse:
        return RedirectResponse(f"{PATH}/", status_code=307)

    app.mount(PATH, DashboardFiles(directory=STATIC, html=True), name="ui")
