"""``/docs`` (Swagger UI) and ``/redoc`` work offline, against a real server's HTTP port:
each page references only this server's own paths, never a CDN, and every asset it
references loads (200, the right content type)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from eigen.server.embedded import EmbeddedServer

pytestmark = pytest.mark.integration

REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")
OAUTH2 = re.compile(r"""oauth2RedirectUrl:\s*window\.location\.origin\s*\+\s*["']([^"']+)["']""")


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    data_dir: Path = tmp_path_factory.mktemp("eigen-data")
    with (
        EmbeddedServer(data_dir=data_dir, http_port=0) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}", timeout=30) as client,
    ):
        yield client


def references(html: str) -> list[str]:
    found = [a or b for a, b in REFERENCES.findall(html)]
    return found + OAUTH2.findall(html)


@pytest.mark.parametrize(
    ("page", "asset"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
def test_the_page_references_only_local_urls_and_they_load(http: httpx.Client, page: str, asset: str) -> None:
    answer = http.get(page)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    urls = references(answer.text)
    assert any(url.endswith(asset) for url in urls), urls
    assert "cdn" not in answer.text.lower()
    assert "//" not in "".join(urls).replace("://127.0.0.1", ""), urls  # no scheme, no host
    for url in urls:
        assert url.startswith("/"), url
        loaded = http.get(url)
        assert loaded.status_code == 200, url
        assert loaded.content, url


def test_the_assets_have_their_content_types(http: httpx.Client) -> None:
    assert "javascript" in http.get("/docs-assets/swagger-ui-bundle.js").headers["content-type"]
    assert http.get("/docs-assets/swagger-ui.css").headers["content-type"].startswith("text/css")


def test_the_document_the_page_loads_is_openapi_3_1(http: httpx.Client) -> None:
    """Swagger UI 5 (the bundled one) renders OpenAPI 3.1; Swagger UI 4 would not."""
    bundle = http.get("/docs-assets/swagger-ui-bundle.js").text
    assert http.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert "SwaggerUIBundle" in bundle
    assert "/docs-assets" not in http.get("/openapi.json").text  # the assets are not API paths
