"""The dashboard signs in with an OpenID Connect provider (settings ``oidc_*``): the page runs
the authorization code flow with PKCE against a provider on loopback
(:mod:`tests.integration.oidc_provider`) in a window of its own, which hands the code back
to the page; the API accepts the provider's token (settings ``jwt_*``), and the page shows
the signed-in tenant's jobs only, keeping nothing in the browser's storage.

Headless Chromium as in test_dashboard.py (skipped without it, except under EIGEN_CI=1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eigen.config.errors import InvalidSetting
from eigen.config.settings import Settings
from eigen.server.embedded import EmbeddedServer
from eigen.server.http import oidc_login
from tests.integration.dashboard_browser import screenshot
from tests.integration.oidc_provider import CLIENT_ID, OidcProvider
from tests.integration.rest_helpers import job, submit
from tests.integration.test_dashboard import Pages, browser, pages, row, ui  # noqa: F401 (fixtures)
from tests.unit.security.test_tokens import AUDIENCE, SigningKey

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def signer() -> SigningKey:
    return SigningKey("idp-key-1", "RS256")


@pytest.fixture(scope="module")
def provider(signer: SigningKey) -> Iterator[OidcProvider]:
    running = OidcProvider(signer, user={"sub": "carol@example", "tenant": "gamma", "roles": ["submitter"]})
    yield running
    running.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, provider: OidcProvider) -> Iterator[EmbeddedServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("dashboard-oidc"),
        http_port=0,
        auth_required=True,
        jwt_jwks_url=provider.jwks_url,
        jwt_issuer=provider.issuer,
        jwt_audience=AUDIENCE,
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
    )
    with EmbeddedServer(settings) as running:
        yield running


def submit_as(http: httpx.Client, name: str, token: str) -> dict[str, Any]:
    return submit(
        http, job(name=name, target="sim:stabilizer", shots=10), headers={"authorization": f"Bearer {token}"}
    )


def test_the_page_signs_in_through_the_provider_and_shows_the_tenant_s_jobs(
    pages: Pages,  # noqa: F811
    server: EmbeddedServer,
    provider: OidcProvider,
    signer: SigningKey,
) -> None:
    from playwright.sync_api import expect

    other = signer.sign({"iss": provider.issuer, "sub": "dan@example", "tenant": "delta"})
    mine = signer.sign({"iss": provider.issuer, "sub": "carol@example", "tenant": "gamma"})
    with httpx.Client(base_url=server.http_address, timeout=60) as http:
        config = http.get("/ui/config.json")
        assert config.status_code == 200  # public, like the page's files
        assert config.json() == {
            "oidc": {"issuer": provider.issuer, "client_id": CLIENT_ID, "scopes": "openid"}
        }
        assert provider.issuer in http.get("/ui/").headers["content-security-policy"]
        theirs = submit_as(http, "delta-job", other)
        ours = submit_as(http, "gamma-job", mine)

    page = pages.open()
    page.goto(ui(server, "#/queue"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    button = page.get_by_role("button", name="Sign in with your identity provider")
    expect(button).to_be_visible()
    screenshot(page, "sign-in-oidc")
    with page.expect_popup() as opened:
        button.click()  # the provider's window: it comes back with a code for this page
    window = opened.value
    window.wait_for_event("close")  # it handed the code over and closed
    expect(page.locator("#session-label")).to_have_text(f"Signed in through {provider.issuer}")
    expect(page.get_by_role("heading", name="Queue")).to_be_visible()  # the page kept its place
    assert page.url.endswith("#/queue")
    assert provider.exchanges == 1 and provider.refusals == []
    kept = "JSON.stringify([Object.keys(localStorage), Object.keys(sessionStorage), document.cookie])"
    assert page.evaluate(kept) == '[[],[],""]'  # verifier, state and token in memory only

    page.goto(ui(server, "#/jobs"))
    expect(row(page, ours["id"])).to_be_visible()
    expect(row(page, theirs["id"])).to_have_count(0)  # tenant gamma's page: delta's job is not there
    screenshot(page, "jobs-oidc")


def test_an_answer_no_page_asked_for_is_refused(
    pages: Pages,  # noqa: F811
    server: EmbeddedServer,
    provider: OidcProvider,
) -> None:
    from playwright.sync_api import expect

    page = pages.open()
    page.goto(ui(server) + "?code=forged&state=not-ours")  # no dashboard opened this window
    expect(page.locator("#sign-in-message")).to_contain_text("This window did not start a sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "code=" not in page.url
    assert provider.refusals == []  # the page never sent the forged code to the provider


def test_an_issuer_without_a_client_id_is_a_settings_error(tmp_path: Path) -> None:
    assert oidc_login(Settings(data_dir=tmp_path)) is None
    with pytest.raises(InvalidSetting) as refused:
        oidc_login(Settings(data_dir=tmp_path, oidc_issuer="https://idp.example"))
    assert "oidc_client_id" in str(refused.value)
    with pytest.raises(InvalidSetting):
        Settings(data_dir=tmp_path, oidc_issuer="idp.example")  # not a URL
