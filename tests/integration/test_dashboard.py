"""The dashboard (/ui/) in headless Chromium against a real embedded server: jobs submitted
through the REST API appear live, a finished job's histogram, a VQE's convergence curve
growing, cancelling a running job from the page, filtering the table, the backends and
queue pages, phone width, and with authentication on, one tenant's browser never seeing
another tenant's jobs.

Screenshots of each page go to artifacts/screenshots/ (git-ignored). Without Chromium or
Playwright these tests skip, except under EIGEN_CI=1, where they fail.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eigen.jobfile import load_job_file
from eigen.server.embedded import EmbeddedServer
from tests.integration.dashboard_browser import (
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    ROOT,
    STEPPED,
    require_browser,
    screenshot,
    stepping,
)
from tests.integration.held import HELD, holding
from tests.integration.rest_helpers import job, submit
from tests.integration.secured import Secured, secured_server

pytestmark = pytest.mark.integration

WAIT_MS = 30_000
SUPERPOSITION_5 = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[5] q;\nbit[5] c;\n'
    "h q[0];\nh q[1];\nh q[2];\nh q[3];\nh q[4];\nc = measure q;\n"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = require_browser()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(data_dir=tmp_path_factory.mktemp("dashboard"), http_port=0) as running:
        yield running


@pytest.fixture(scope="module")
def client(dash: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dash.http_address, timeout=60) as opened:
        yield opened


class Pages:
    """Browser pages of one test; each page's JavaScript errors fail the test."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def open(self, viewport: dict[str, int] = DESKTOP) -> Any:
        context = self.browser.new_context(viewport=viewport, accept_downloads=True)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.set_default_timeout(WAIT_MS)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser: Any) -> Iterator[Pages]:
    opened = Pages(browser)
    yield opened
    opened.close()
    assert not opened.errors, opened.errors


def ui(server: EmbeddedServer, route: str = "") -> str:
    return f"{server.http_address}/ui/{route}"


def row(page: Any, job_id: str) -> Any:
    return page.locator(f'table.jobs tr[data-job-id="{job_id}"]')


def wait_done(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/results", params={"wait_seconds": 60})
    assert response.status_code == 200, response.text
    results: dict[str, Any] = response.json()
    return results


def more_than(number: int) -> re.Pattern[str]:
    """A pattern of the decimal numbers greater than ``number`` (the page's CSP forbids
    the string evaluation of Playwright's wait_for_function)."""
    digits = len(str(number))
    exact = "|".join(str(n) for n in range(number + 1, 10**digits))
    longer = f"[1-9][0-9]{{{digits},}}"
    return re.compile(f"^(?:{exact}|{longer})$" if exact else f"^(?:{longer})$")


def vqe_body(target: str) -> dict[str, Any]:
    request = load_job_file(ROOT / "examples" / "vqe-h2" / "job.yaml")
    return {
        "name": request.name,
        "program": {"source": request.program, "entrypoint": request.entrypoint or ""},
        "target": target,
        "shots": request.shots,
        "seed": request.seed,
        "labels": dict(request.labels),
        "options": dict(request.options),
    }


# -- jobs ------------------------------------------------------------------------------------
def test_submitted_jobs_appear_and_change_state_without_a_reload(
    pages: Pages, dash: EmbeddedServer, client: httpx.Client
) -> None:
    from playwright.sync_api import expect

    page = pages.open()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(ui(dash))
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    expect(page.locator("#jobs-status")).to_contain_text("on this page")
    page.evaluate("window.__notReloaded = true")
    with holding(dash) as held:
        running = submit(client, job(name="held-live", target=HELD, shots=10))
        held.wait_held()
        quick = submit(client, job(name="bell-live", labels={"team": "live"}))
        expect(row(page, running["id"])).to_have_attribute("data-state", "RUNNING")
        expect(row(page, quick["id"])).to_have_attribute("data-state", "DONE")
        expect(row(page, running["id"]).locator("td").first).to_have_text("held-live")
        screenshot(page, "jobs-live")
    expect(row(page, running["id"])).to_have_attribute("data-state", "DONE")  # the held run went on
    # the states came by the stream of all jobs (one connection), not by per-job streams
    assert sum("/v1/jobs:events" in url for url in requested) == 1, requested
    assert not any(re.search(r"/v1/jobs/[^/]+/events", url) for url in requested), requested
    assert page.evaluate("window.__notReloaded") is True
    expect(row(page, quick["id"]).locator(".state")).to_have_text("DONE")
    screenshot(page, "jobs")


def test_a_burst_of_jobs_costs_a_bounded_number_of_list_reads(
    pages: Pages, dash: EmbeddedServer, client: httpx.Client
) -> None:
    """300 jobs in one batch make some 1,500 events on the stream; the page reads the list
    again debounced (at most two reads a second), not once per event, and ends showing the
    newest jobs as they ended."""
    from playwright.sync_api import expect

    page = pages.open()
    listed: list[float] = []
    page.on("request", lambda r: listed.append(time.monotonic()) if "/v1/jobs?" in r.url else None)
    page.goto(ui(dash, "#/jobs?label=set%3Dburst"))
    expect(page.locator("table.jobs tbody")).to_contain_text("No jobs match these filters.")
    begun = time.monotonic()
    labels = {"set": "burst"}
    batch = [job(name=f"burst-{n}", target="sim:stabilizer", shots=10, labels=labels) for n in range(300)]
    answer = client.post("/v1/jobs:batch", json={"jobs": batch})
    assert answer.status_code == 201, answer.text
    ids = answer.json()["job_ids"]
    wait_done(client, ids[-1])
    for job_id in ids[-50:]:  # the newest page: the last 50, each shown DONE
        expect(row(page, job_id)).to_have_attribute("data-state", "DONE")
    elapsed = time.monotonic() - begun
    reads = [t for t in listed if t >= begun]
    assert len(reads) <= 2 * elapsed + 3, (len(reads), elapsed)


def test_the_table_filters_by_label_state_and_target(
    pages: Pages, dash: EmbeddedServer, client: httpx.Client
) -> None:
    from playwright.sync_api import expect

    red = [submit(client, job(name=f"red-{i}", labels={"team": "red"})) for i in range(2)]
    blue = submit(client, job(name="blue-0", labels={"team": "blue"}, target="sim:stabilizer"))
    for accepted in [*red, blue]:
        wait_done(client, accepted["id"])
    page = pages.open()
    page.goto(ui(dash))
    expect(row(page, blue["id"])).to_be_visible()
    page.get_by_label("Label").fill("team=red")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("table.jobs tbody tr[data-job-id]")).to_have_count(2)
    expect(row(page, red[0]["id"])).to_be_visible()
    expect(row(page, blue["id"])).to_have_count(0)
    assert "label=team%3Dred" in page.url or "label=team=red" in page.url
    screenshot(page, "jobs-filtered")
    page.get_by_role("button", name="Clear").click()
    expect(row(page, blue["id"])).to_be_visible()
    page.get_by_label("Target").select_option("sim:stabilizer")
    page.get_by_label("State", exact=True).select_option("DONE")
    page.get_by_role("button", name="Apply").click()
    expect(row(page, red[0]["id"])).to_have_count(0)
    expect(row(page, blue["id"])).to_be_visible()
    page.get_by_label("State", exact=True).select_option("ERROR")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("table.jobs tbody")).to_contain_text("No jobs match these filters.")


def test_paging_goes_to_older_jobs_and_back(pages: Pages, dash: EmbeddedServer, client: httpx.Client) -> None:
    from playwright.sync_api import expect

    made = [submit(client, job(name=f"paged-{i}", labels={"set": "paging"})) for i in range(30)]
    page = pages.open()
    page.goto(ui(dash, "#/jobs?label=set%3Dpaging&page_size=25"))
    expect(page.locator("table.jobs tbody tr[data-job-id]")).to_have_count(25)
    expect(row(page, made[-1]["id"])).to_be_visible()  # newest first
    page.get_by_role("button", name="Older →").click()
    expect(page.locator("table.jobs tbody tr[data-job-id]")).to_have_count(5)
    expect(row(page, made[0]["id"])).to_be_visible()
    page.get_by_role("button", name="← Newer").click()
    expect(row(page, made[-1]["id"])).to_be_visible()


# -- one job ---------------------------------------------------------------------------------
def test_a_finished_job_shows_its_histogram_timeline_compile_report_and_downloads(
    pages: Pages, dash: EmbeddedServer, client: httpx.Client, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    accepted = submit(client, job(SUPERPOSITION_5, name="five-h", shots=4000))
    results = wait_done(client, accepted["id"])
    counts: dict[str, int] = results["experiments"][0]["counts"]
    assert len(counts) == 32
    page = pages.open()
    page.goto(ui(dash, f"#/jobs/{accepted['id']}"))
    histogram = page.locator("table.histogram")
    expect(histogram.locator("tr.outcome")).to_have_count(17)  # the top 16, then the rest summed
    shown = {}
    for line in histogram.locator("tr.outcome:not(.rest)").all():
        outcome = line.locator("th").inner_text()
        shown[outcome] = int(line.locator("td").first.inner_text().replace(",", "").replace("\u202f", ""))
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:16]
    assert shown == dict(top)
    rest = histogram.locator("tr.rest")
    expect(rest.locator("th")).to_have_text("16 other outcomes")
    rest_count = int(rest.locator("td").first.inner_text().replace(",", ""))
    assert rest_count == 4000 - sum(shown.values())
    expect(histogram.locator("caption")).to_contain_text("4,000 shots, 32 outcomes")
    steps = page.locator("#timeline li")
    expect(steps).to_have_count(5)
    assert [s.get_attribute("data-state") for s in steps.all()] == [
        "PENDING",
        "COMPILING",
        "QUEUED",
        "RUNNING",
        "DONE",
    ]
    expect(page.locator(".facts").first).to_contain_text("Stage times")
    compile_table = page.locator("table.compile")
    expect(compile_table).to_contain_text("Depth")
    expect(compile_table.locator("tr", has_text="h gates").locator("td").first).to_have_text("5")
    expect(page.locator("pre.spec")).to_contain_text('"name": "five-h"')
    expect(page.locator("pre.program")).to_have_text(SUPERPOSITION_5)  # the program text, as submitted
    expect(page.locator("#program-note")).to_contain_text(f"QASM3 · {len(SUPERPOSITION_5)} bytes")
    with page.expect_download() as json_download:
        page.get_by_role("button", name="Download JSON").click()
    saved = tmp_path / "results.json"
    json_download.value.save_as(saved)
    assert json.loads(saved.read_text())["experiments"][0]["counts"] == counts
    with page.expect_download() as csv_download:
        page.get_by_role("button", name="Download CSV").click()
    csv_file = tmp_path / "results.csv"
    csv_download.value.save_as(csv_file)
    lines = csv_file.read_text().splitlines()
    assert lines[0] == "experiment,kind,key,value,standard_error"
    assert sum(int(line.split(",")[3]) for line in lines[1:] if ",count," in line) == 4000
    with page.expect_download() as parquet_download:
        page.get_by_role("button", name="Download Parquet").click()
    parquet_file = tmp_path / "results.parquet"
    parquet_download.value.save_as(parquet_file)
    import pyarrow.parquet as pq

    read = pq.read_table(parquet_file)  # written by the server (pyarrow), fetched with the page's credential
    assert read.column_names == ["experiment", "kind", "key", "value", "text", "standard_error"]
    table = read.to_pylist()
    assert {r["key"]: int(r["value"]) for r in table if r["kind"] == "count"} == counts
    assert {r["experiment"] for r in table} == {0}
    screenshot(page, "job")


def test_a_vqe_convergence_curve_grows_while_it_runs(
    pages: Pages, dash: EmbeddedServer, client: httpx.Client, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = pages.open()
    with stepping(dash) as device:
        accepted = submit(client, vqe_body(STEPPED))
        page.goto(ui(dash, f"#/jobs/{accepted['id']}"))
        expect(page.locator("#job-state")).to_have_text("RUNNING")
        curve = page.locator("figure.convergence")
        device.allow(10)
        expect(curve).to_have_attribute("data-points", more_than(1))
        first = int(curve.get_attribute("data-points") or 0)
        device.allow(10)
        expect(curve).to_have_attribute("data-points", more_than(first))
        expect(page.locator("#job-state")).to_have_text("RUNNING")  # it grew while the job ran
        expect(page.locator("figure.convergence figcaption")).to_contain_text("iterations")
        screenshot(page, "vqe-running")
    expect(page.locator("#job-state")).to_have_text("DONE")
    results = wait_done(client, accepted["id"])
    iterations = results["summary"]["iterations"]
    expect(curve).to_have_attribute("data-points", str(iterations))
    expect(page.locator("#results")).to_contain_text("-1.857")
    expect(page.locator("table.parameters").first).to_contain_text("t0")
    screenshot(page, "vqe-done")
    with page.expect_download() as parquet_download:
        page.get_by_role("button", name="Download Parquet").click()
    parquet_file = tmp_path / "vqe.parquet"
    parquet_download.value.save_as(parquet_file)
    import pyarrow.parquet as pq

    summary = {r["key"]: r for r in pq.read_table(parquet_file).to_pylist() if r["kind"] == "summary"}
    assert summary["energy"]["value"] == pytest.approx(results["summary"]["energy"])
    assert summary["method"]["text"] == "COBYLA" and summary["converged"]["text"] == "true"


def test_cancel_a_running_job_from_its_page(pages: Pages, dash: EmbeddedServer, client: httpx.Client) -> None:
    from playwright.sync_api import expect

    page = pages.open()
    with holding(dash) as held:
        accepted = submit(client, job(name="to-cancel", target=HELD, shots=10))
        held.wait_held()
        page.goto(ui(dash, f"#/jobs/{accepted['id']}"))
        expect(page.locator("#job-state")).to_have_text("RUNNING")
        page.get_by_role("button", name="Cancel job").click()
        confirm = page.get_by_role("button", name="Confirm cancel")
        expect(confirm).to_be_focused()
        confirm.click()
        expect(page.locator("#job-state")).to_have_text("CANCELLED")
        assert client.get(f"/v1/jobs/{accepted['id']}").json()["state"] == "CANCELLED"
        expect(page.locator("#timeline li").last).to_have_attribute("data-state", "CANCELLED")
        expect(page.get_by_role("button", name="Resubmit")).to_be_visible()
        screenshot(page, "job-cancelled")


def test_resubmit_makes_a_new_job_from_the_stored_program(
    pages: Pages, dash: EmbeddedServer, client: httpx.Client
) -> None:
    from playwright.sync_api import expect

    accepted = submit(client, job(name="again", labels={"team": "resubmit"}))
    wait_done(client, accepted["id"])
    page = pages.open()
    page.goto(ui(dash, f"#/jobs/{accepted['id']}"))
    page.get_by_role("button", name="Resubmit").click()
    page.wait_for_url(lambda url: "#/jobs/" in url and accepted["id"] not in url)
    expect(page.locator("#job-state")).to_have_text("DONE")
    new_id = page.url.rsplit("/", 1)[-1]
    resubmitted = client.get(f"/v1/jobs/{new_id}").json()
    assert resubmitted["program_uri"] == f"qfs://{accepted['id']}"
    assert resubmitted["labels"] == {"team": "resubmit"} and resubmitted["name"] == "again"
    expect(page.locator("table.histogram")).to_contain_text("00")


# -- backends, queue, layout -------------------------------------------------------------------
def test_the_backends_page_draws_coupling_maps_and_calibration(pages: Pages, dash: EmbeddedServer) -> None:
    from playwright.sync_api import expect

    page = pages.open()
    page.goto(ui(dash, "#/backends"))
    manila = page.locator('article[data-backend="emu:manila"]')
    expect(manila.locator("svg line.edge")).to_have_count(4)  # 0-1, 1-2, 2-3, 3-4, both directions once
    expect(manila.locator("svg .qubit")).to_have_count(5)
    expect(manila).to_contain_text("ONLINE")
    expect(manila.locator('[data-queue-depth="emu:manila"]')).to_have_text("0 running · 0 waiting")
    expect(manila.locator(".calibration-summary")).to_contain_text("Median T1")
    manila.locator("details.calibration summary").click()
    expect(manila.locator("details.calibration table").first.locator("tbody tr")).to_have_count(5)
    statevector = page.locator('article[data-backend="sim:statevector"]')
    expect(statevector).to_contain_text("All-to-all")
    expect(statevector.locator(".chips .chip").get_by_text("cx", exact=True)).to_have_count(1)
    screenshot(page, "backends")


def test_the_queue_page_shows_running_and_waiting_jobs_per_backend(
    pages: Pages, dash: EmbeddedServer, client: httpx.Client
) -> None:
    from playwright.sync_api import expect

    page = pages.open()
    with holding(dash) as held:
        made = [submit(client, job(name=f"queue-{i}", target=HELD, shots=10)) for i in range(5)]
        held.wait_held()
        views = [client.get(f"/v1/jobs/{accepted['id']}").json() for accepted in made]
        running = [view for view in views if view["state"] == "RUNNING"]
        page.goto(ui(dash, "#/queue"))
        group = page.locator('section[data-backend="test:held"]')
        expect(group.locator('[data-count="running"]')).to_have_text(f"{len(running)} running")
        expect(group.locator('[data-count="waiting"]')).to_have_text(f"{len(made) - len(running)} waiting")
        for view in views:
            expect(group.locator(f'tr[data-job-id="{view["id"]}"]')).to_contain_text(view["name"])
            placement = view.get("placement")  # where the server tells where a job waits
            if view["state"] == "QUEUED" and placement:
                line = group.locator(f'tr[data-job-id="{view["id"]}"]')
                expect(line.locator("td").first).to_have_text(str(placement["position"]))
                expect(line).to_contain_text(placement["reason"])
        first_waiting = next((v for v in views if v["state"] == "QUEUED" and v.get("placement")), None)
        if first_waiting is not None:  # the job page shows the same placement
            page.goto(ui(dash, f"#/jobs/{first_waiting['id']}"))
            expect(page.locator(".facts")).to_contain_text(first_waiting["placement"]["reason"])
            page.goto(ui(dash, "#/queue"))
            expect(group.locator("tbody tr")).to_have_count(len(made))
        screenshot(page, "queue")
    expect(group.locator('[data-count="running"]')).to_have_text("0 running")
    expect(group.locator('[data-count="waiting"]')).to_have_text("0 waiting")


def test_phone_width_and_keyboard(pages: Pages, dash: EmbeddedServer, client: httpx.Client) -> None:
    from playwright.sync_api import expect

    accepted = submit(client, job(name="phone"))
    wait_done(client, accepted["id"])
    page = pages.open(PHONE)
    page.goto(ui(dash))
    expect(row(page, accepted["id"])).to_be_visible()
    overflow = "document.documentElement.scrollWidth - window.innerWidth"
    assert page.evaluate(overflow) <= 0  # the table scrolls inside its box, not the page
    screenshot(page, "jobs-phone")
    page.goto(ui(dash, f"#/jobs/{accepted['id']}"))
    expect(page.locator("table.histogram")).to_be_visible()
    assert page.evaluate(overflow) <= 0
    screenshot(page, "job-phone")

    desk = pages.open()
    desk.goto(ui(dash))
    expect(row(desk, accepted["id"])).to_be_visible()
    desk.keyboard.press("Tab")
    expect(desk.get_by_role("link", name="Skip to content")).to_be_focused()
    for _ in range(10):  # tab through the header to the Backends link, then follow it
        desk.keyboard.press("Tab")
        if desk.evaluate("document.activeElement.textContent") == "Backends":
            break
    desk.keyboard.press("Enter")
    expect(desk.get_by_role("heading", name="Backends", exact=True)).to_be_focused()
    expect(desk.get_by_role("link", name="Backends")).to_have_attribute("aria-current", "page")


UNNAMED = """() => [...document.querySelectorAll("input, select, button, a[href], [role=img]")]
  .filter((e) => e.getClientRects().length)
  .filter((e) => {
    const labelled = e.labels && e.labels.length ? [...e.labels].map((l) => l.textContent).join("") : "";
    const by = (e.getAttribute("aria-labelledby") || "").split(" ").filter(Boolean)
      .map((id) => (document.getElementById(id) || {}).textContent || "").join("");
    const own = e.getAttribute("aria-label") || e.getAttribute("title") || e.textContent.trim();
    return !(labelled || by || own);
  })
  .map((e) => e.outerHTML.slice(0, 120))"""


def test_every_control_and_chart_has_an_accessible_name(
    pages: Pages, dash: EmbeddedServer, client: httpx.Client
) -> None:
    from playwright.sync_api import expect

    finished = submit(client, job(name="named"))
    wait_done(client, finished["id"])
    page = pages.open()
    assert page.goto(ui(dash)) is not None
    assert page.get_attribute("html", "lang") == "en"
    for route, ready in [
        ("#/jobs", "table.jobs tr[data-job-id]"),
        (f"#/jobs/{finished['id']}", "table.histogram"),
        ("#/backends", "svg[role=img]"),
        ("#/queue", "section.queue-group"),
    ]:
        page.goto(ui(dash, route))
        expect(page.locator(ready).first).to_be_visible()
        assert page.evaluate(UNNAMED) == [], route
        expect(page.locator("h1")).to_have_count(1)


# -- authentication ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Secured]:
    with secured_server(tmp_path_factory.mktemp("dashboard-secured")) as running:
        running.add_key("a", tenant="alpha", role="submitter", name="ann")
        running.add_key("b", tenant="beta", role="submitter", name="bob")
        running.add_key("admin", tenant="ops", role="admin", name="ada")
        yield running


def sign_in(page: Any, kind: str, key: str) -> None:
    page.get_by_label("Credential").select_option(label=kind)
    page.get_by_label("Key or token").fill(key)
    page.get_by_role("button", name="Sign in").click()


def test_with_authentication_tenant_b_never_sees_tenant_a_jobs(pages: Pages, secured: Secured) -> None:
    from playwright.sync_api import expect

    server = secured.server
    with httpx.Client(base_url=server.http_address, timeout=60) as http:
        a_jobs = [submit(http, job(name=f"alpha-{i}"), headers=secured.headers("a")) for i in range(2)]
        for made in a_jobs:
            http.get(f"/v1/jobs/{made['id']}/results?wait_seconds=60", headers=secured.headers("a"))

        b = pages.open()
        b.goto(ui(server))
        expect(b.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(b.get_by_label("Key or token")).to_be_focused()
        screenshot(b, "sign-in")
        sign_in(b, "API key", "eig_not_a_key_of_this_server")
        expect(b.locator("#sign-in-message")).to_have_text("The server did not accept this credential.")
        sign_in(b, "API key", secured.keys["b"])
        expect(b.get_by_role("heading", name="Jobs")).to_be_visible()
        expect(b.locator("table.jobs tbody")).to_contain_text("No jobs match these filters.")
        expect(b.locator("#session-label")).to_have_text("Signed in with an API key")
        a_live = submit(http, job(name="alpha-live"), headers=secured.headers("a"))  # while B's page is open
        mine = submit(http, job(name="beta-0"), headers=secured.headers("b"))
        expect(row(b, mine["id"])).to_be_visible()  # B's own job appears live
        expect(row(b, a_live["id"])).to_have_count(0)
        expect(b.locator("table.jobs tbody tr[data-job-id]")).to_have_count(1)
        screenshot(b, "tenant-b-jobs")
        b.goto(ui(server, "#/queue"))
        expect(b.get_by_role("heading", name="Queue")).to_be_visible()
        b.goto(ui(server, f"#/jobs/{a_jobs[0]['id']}"))  # a hash change: still signed in
        expect(b.get_by_role("alert")).to_contain_text("EIGEN_NOT_FOUND")
        content = b.content()
        assert all(made["id"] not in content.replace(f"#/jobs/{made['id']}", "") for made in a_jobs[1:])
        assert a_live["id"] not in content
        assert "alpha-" not in content
        screenshot(b, "tenant-b-other-job")
        kept = "JSON.stringify([Object.keys(localStorage), Object.keys(sessionStorage), document.cookie])"
        stored = b.evaluate(kept)
        assert stored == '[[],[],""]'
        assert b.context.cookies() == []
        assert secured.keys["b"] not in b.content()

        a = pages.open()
        a.goto(ui(server))
        sign_in(a, "Bearer token (JWT)", secured.keys["a"])  # an API key is a bearer credential too
        for made in a_jobs:
            expect(row(a, made["id"])).to_be_visible()
        expect(row(a, mine["id"])).to_have_count(0)
        expect(a.locator("#session-label")).to_have_text("Signed in with a bearer token")
        expect(a.locator("table.jobs thead th", has_text="Tenant")).to_be_hidden()  # one tenant: no column
        a.get_by_role("button", name="Sign out").click()
        expect(a.get_by_role("heading", name="Sign in")).to_be_visible()
        a.reload()  # nothing kept: a reload asks again
        expect(a.get_by_role("heading", name="Sign in")).to_be_visible()

        admin = pages.open()
        admin.goto(ui(server))
        sign_in(admin, "API key", secured.keys["admin"])
        for made in [*a_jobs, mine]:  # an admin sees every tenant's jobs, with the tenant column
            expect(row(admin, made["id"])).to_be_visible()
        expect(admin.locator("table.jobs thead th", has_text="Tenant")).to_be_visible()
        expect(row(admin, mine["id"])).to_contain_text("beta")
        screenshot(admin, "admin-jobs")
