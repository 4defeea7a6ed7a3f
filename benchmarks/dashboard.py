"""The dashboard with 10,000 jobs: time to first rows on the Jobs page, a page change, and
how soon a new job shows up (issue 21), in headless Chromium.

An embedded server (HTTP on a free loopback port, a temporary data folder) gets ``--jobs``
jobs written straight into its store (``JobStore.create_many``, one transaction: ended
jobs, as if they had run, so nothing runs meanwhile), newest first on the page. Then, in
Debian's ``chromium`` driven by Playwright (``apt-get install -y chromium``; never
``playwright install``), for each page size (``--page-sizes``, default 50 and 200),
``--rounds`` times, each in a fresh browser context (no cached modules):

- **first rows**: from ``page.goto`` of ``/ui/#/jobs`` to the page's first row on screen,
  and to the whole page of rows;
- **page change**: from the click on ``Older →`` to the first row of page 2 on screen, and
  back with ``← Newer``;
- **new job**: from a SubmitJob over REST to its row on the page, with the page open and
  idle for a second (the stream of all jobs, ``GET /v1/jobs:events``, then one read of
  the page after the page's 250 ms debounce).

The baseline, in the same run, is the same with ``--baseline-jobs`` (500: two pages of the
largest size and some) jobs in the store: the page holds one page of rows whatever the
store holds, so the ratio should stay near 1.
Bar: first rows under 1 s with 10,000 jobs (PASS/FAIL; nothing asserts).

    .venv/bin/python benchmarks/dashboard.py                 # ~1 min
    .venv/bin/python benchmarks/dashboard.py --jobs 100000 --rounds 3

JSON: ``benchmarks/results/dashboard.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from small_jobs import RESULTS, ROOT, git_state, versions

from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.state import JobState
from eigen.server.embedded import EmbeddedServer

BAR_FIRST_ROWS_S = 1.0
BELL = (ROOT / "examples" / "bell-qasm3" / "bell.qasm").read_text()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
TIMEOUT_MS = 60_000
IDLE_MS = 1000  # before the new job: longer than the page's spacing of reads (jobs.js)
ENDED = (JobState.DONE,) * 8 + (JobState.ERROR, JobState.CANCELLED)


def chromium() -> str:
    found = os.environ.get("EIGEN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        sys.exit(
            "needs Debian's chromium (apt-get install -y chromium) and playwright (pip install -e '.[dev]')"
        )
    return found


def fill(server: EmbeddedServer, count: int) -> float:
    """``count`` ended jobs written into the server's store in one transaction; seconds."""
    assert server.stack is not None and server.stack.kernel is not None
    store = server.stack.kernel.store
    now = time.time()
    batch: list[tuple[Job, JobEvent]] = []
    for n in range(count):
        created = now - (count - n) * 0.5  # one every half second, the last one now
        state = ENDED[n % len(ENDED)]
        request = JobRequest(
            program=BELL,
            language=ProgramLanguage.QASM3,
            name=f"bench-{n}",
            target="sim:statevector" if n % 3 else "sim:stabilizer",
            shots=1000,
            labels={"bench": "dashboard", "batch": str(n // 1000)},
        )
        job = Job(
            id=uuid.uuid4().hex,
            request=request,
            state=state,
            created_at=created,
            updated_at=created + 0.2,
            started_at=created + 0.05,
            finished_at=created + 0.2,
            last_seq=1,
        )
        batch.append((job, JobEvent(job.id, 1, state, "state", created + 0.2, "benchmark")))
    begun = time.perf_counter()
    store.create_many(batch)
    return time.perf_counter() - begun


def first_id(client: httpx.Client, page_size: int, page: int) -> str:
    token = ""
    for _ in range(page):
        token = client.get("/v1/jobs", params={"page_size": page_size, "page_token": token}).json()[
            "next_page_token"
        ]
    body = client.get("/v1/jobs", params={"page_size": page_size, "page_token": token}).json()
    return str(body["jobs"][0]["id"])


def row(page: Any, job_id: str) -> Any:
    return page.locator(f'table.jobs tr[data-job-id="{job_id}"]')


def measure_case(browser: Any, server: EmbeddedServer, page_size: int, rounds: int) -> dict[str, Any]:
    base = server.http_address
    with httpx.Client(base_url=base, timeout=60) as client:
        newest, older = first_id(client, page_size, 0), first_id(client, page_size, 1)
        url = f"{base}/ui/#/jobs" + (f"?page_size={page_size}" if page_size != 50 else "")
        timings: dict[str, list[float]] = {
            k: [] for k in ("first_row", "full_page", "older", "newer", "new_job")
        }
        for _ in range(rounds):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            begun = time.perf_counter()
            page.goto(url, wait_until="commit")
            row(page, newest).wait_for(state="visible")
            timings["first_row"].append(time.perf_counter() - begun)
            page.locator(f"table.jobs tbody tr[data-job-id] >> nth={page_size - 1}").wait_for(state="visible")
            timings["full_page"].append(time.perf_counter() - begun)
            page.locator("#jobs-status").filter(has_text="on this page").wait_for()
            begun = time.perf_counter()
            page.get_by_role("button", name="Older →").click()
            row(page, older).wait_for(state="visible")
            timings["older"].append(time.perf_counter() - begun)
            begun = time.perf_counter()
            page.get_by_role("button", name="← Newer").click()
            row(page, newest).wait_for(state="visible")
            timings["newer"].append(time.perf_counter() - begun)
            # an idle page, as a user's is between events: past the spacing the page keeps
            # between two reads (500 ms), so the figure is the stream and one debounced read
            page.wait_for_timeout(IDLE_MS)
            begun = time.perf_counter()
            answer = client.post(
                "/v1/jobs",
                json={"job": {"program": {"source": BELL}, "name": "bench-live", "shots": 10}},
            )
            assert answer.status_code == 201, answer.text
            new_id = answer.json()["job"]["id"]
            row(page, new_id).wait_for(state="visible")
            timings["new_job"].append(time.perf_counter() - begun)
            newest = new_id  # it heads the list now
            older = first_id(client, page_size, 1)
            context.close()
    return {
        "page_size": page_size,
        "rounds": rounds,
        **{
            f"{name}_ms_median": round(statistics.median(values) * 1000, 1)
            for name, values in timings.items()
        },
        **{f"{name}_ms_max": round(max(values) * 1000, 1) for name, values in timings.items()},
    }


@contextmanager
def server_with(jobs: int, parent: Path) -> Any:
    with EmbeddedServer(data_dir=parent / f"jobs-{jobs}", http_port=0) as server:
        seconds = fill(server, jobs)
        yield server, seconds


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    cases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="eigen-dashboard-bench-") as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            for jobs in (args.baseline_jobs, args.jobs):
                with server_with(jobs, Path(tmp)) as (server, fill_s):
                    for page_size in args.page_sizes:
                        case = measure_case(browser, server, page_size, args.rounds)
                        cases.append({"jobs": jobs, "fill_s": round(fill_s, 2), **case})
                        print(f"  {jobs:>7} jobs, page {case['page_size']:>3}: done", file=sys.stderr)
        finally:
            browser.close()
    return {"cases": cases}


def print_report(report: dict[str, Any]) -> None:
    print()
    head = (
        f"{'jobs':>7} {'page':>5} {'first row ms':>13} {'full page ms':>13} {'older ms':>9} "
        f"{'newer ms':>9} {'new job ms':>11} {'x base':>7}"
    )
    print(head)
    base = {c["page_size"]: c for c in report["cases"] if c["jobs"] == report["baseline_jobs"]}
    for case in report["cases"]:
        ref = base.get(case["page_size"])
        ratio = case["first_row_ms_median"] / ref["first_row_ms_median"] if ref else float("nan")
        print(
            f"{case['jobs']:>7} {case['page_size']:>5} {case['first_row_ms_median']:>13.1f} "
            f"{case['full_page_ms_median']:>13.1f} {case['older_ms_median']:>9.1f} "
            f"{case['newer_ms_median']:>9.1f} "
            f"{case['new_job_ms_median']:>11.1f} {ratio:>7.2f}"
        )
    big = [c for c in report["cases"] if c["jobs"] == report["jobs"]]
    worst = max(c["first_row_ms_median"] for c in big) / 1000 if big else float("nan")
    verdict = "PASS" if worst < BAR_FIRST_ROWS_S else "FAIL"
    print(
        f"\nbar: first rows < {BAR_FIRST_ROWS_S:g} s with {report['jobs']:,} jobs: {verdict} ({worst:.3f} s)"
    )
    print("medians of the rounds; new job: SubmitJob to its row (stream + debounced read)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--baseline-jobs", type=int, default=500)
    parser.add_argument("--page-sizes", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "dashboard.json")
    args = parser.parse_args()
    if min(args.jobs, args.baseline_jobs) <= 2 * max(args.page_sizes):
        parser.error("each store needs more than two pages of the largest page size")
    measured = run(args)
    report = {
        "benchmark": "dashboard",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "jobs": args.jobs,
        "baseline_jobs": args.baseline_jobs,
        "bar_first_rows_s": BAR_FIRST_ROWS_S,
        **measured,
        "git": git_state(),
        "versions": versions(),
    }
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
