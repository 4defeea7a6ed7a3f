// Jobs: a table of one page of ListJobs (the server pages and filters: the browser never
// holds more than a page), filters by state, target, label and creation time, and live
// updates without polling: the stream of every job the credential sees
// (`GET /v1/jobs:events`) changes a row's state the moment it changes, and a new job, a
// change that may move a job into or out of the page, or a `resync` (the stream opened,
// or fell behind) reads the page again, debounced so that a burst of events costs one
// request. Only a server without the stream (501: its kernel is another process) is read
// again every few seconds instead.

import { api, watchJobs } from "../api.js";
import {
  announce, el, formatDate, formatDuration, parseTime, problemText, secondsBetween, shortId, stateBadge, STATES, TERMINAL,
} from "../format.js";

// Only where the server has no stream of all jobs (501), the page is read this often instead.
export const FALLBACK_REFRESH_MS = 2000;
const DEBOUNCE_MS = 250; // events that come together cost one read of the page
const MIN_READ_GAP_MS = 500; // and a storm of them at most two reads a second
const TICK_MS = 1000; // the "waiting ..." durations count up locally (no request)
const PAGE_SIZES = [25, 50, 100, 200];

function durationOf(job) {
  if (job.started_at) return formatDuration(secondsBetween(job.started_at, job.finished_at));
  if (TERMINAL.has(job.state)) return "–";
  return `waiting ${formatDuration(secondsBetween(job.created_at))}`;
}

function toLocalInput(text) {
  const time = parseTime(text);
  if (time === null) return "";
  const date = new Date(time);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function fromLocalInput(value) {
  if (!value) return "";
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? "" : time.toISOString();
}

function filtersFrom(params) {
  return {
    state: params.get("state") || "",
    target: params.get("target") || "",
    label: params.get("label") || "",
    created_after: params.get("created_after") || "",
    created_before: params.get("created_before") || "",
    page_size: Number(params.get("page_size")) || 50,
  };
}

function hashOf(filters) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) {
    if (value && !(key === "page_size" && value === 50)) search.set(key, String(value));
  }
  const text = search.toString();
  return `#/jobs${text ? `?${text}` : ""}`;
}

export async function renderJobs(container, params, signal) {
  const filters = filtersFrom(params);
  const tokens = [""]; // the page_token of each page seen, for "Newer"
  let page = 0;
  let rows = new Map(); // job id -> {row, cells}
  let known = null; // ids seen on the first page, to spot new jobs
  let tenantsShown = false;

  const stateSelect = el("select", { id: "filter-state", name: "state" },
    el("option", { value: "" }, "Any state"),
    STATES.map((state) => el("option", { value: state, selected: state === filters.state }, state)));
  const targetSelect = el("select", { id: "filter-target", name: "target" },
    el("option", { value: "" }, "Any target"),
    filters.target ? el("option", { value: filters.target, selected: true }, filters.target) : null);
  const labelInput = el("input", { id: "filter-label", name: "label", value: filters.label, placeholder: "key=value",
    pattern: "[^=]+=.*", title: "key=value" });
  const afterInput = el("input", { id: "filter-after", name: "created_after", type: "datetime-local",
    value: toLocalInput(filters.created_after) });
  const beforeInput = el("input", { id: "filter-before", name: "created_before", type: "datetime-local",
    value: toLocalInput(filters.created_before) });
  const sizeSelect = el("select", { id: "filter-size", name: "page_size" },
    PAGE_SIZES.map((size) => el("option", { value: size, selected: size === filters.page_size }, String(size))));
  const form = el("form", { class: "filters", role: "search", "aria-label": "Filter jobs" },
    el("div", { class: "field" }, el("label", { for: "filter-state" }, "State"), stateSelect),
    el("div", { class: "field" }, el("label", { for: "filter-target" }, "Target"), targetSelect),
    el("div", { class: "field" }, el("label", { for: "filter-label" }, "Label"), labelInput),
    el("div", { class: "field" }, el("label", { for: "filter-after" }, "Created after"), afterInput),
    el("div", { class: "field" }, el("label", { for: "filter-before" }, "Created before"), beforeInput),
    el("div", { class: "field" }, el("label", { for: "filter-size" }, "Per page"), sizeSelect),
    el("div", { class: "field buttons" },
      el("button", { type: "submit" }, "Apply"),
      el("button", { type: "button", class: "secondary", onclick: () => { location.hash = "#/jobs"; } }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const next = hashOf({
      state: stateSelect.value,
      target: targetSelect.value,
      label: labelInput.value.trim(),
      created_after: fromLocalInput(afterInput.value),
      created_before: fromLocalInput(beforeInput.value),
      page_size: Number(sizeSelect.value),
    });
    if (next === location.hash) load(true);
    else location.hash = next;
  });

  const tenantHeader = el("th", { scope: "col", hidden: true }, "Tenant");
  const tbody = el("tbody", {});
  const status = el("p", { class: "muted", id: "jobs-status" }, "Loading…");
  const live = el("p", { class: "muted", id: "jobs-live" }, "Live updates: as they happen.");
  const table = el("table", { class: "jobs", "aria-describedby": "jobs-status" },
    el("caption", { class: "visually-hidden" }, "Jobs, newest first"),
    el("thead", {}, el("tr", {},
      el("th", { scope: "col" }, "Name"),
      el("th", { scope: "col" }, "ID"),
      el("th", { scope: "col" }, "State"),
      el("th", { scope: "col" }, "Target"),
      tenantHeader,
      el("th", { scope: "col" }, "Created"),
      el("th", { scope: "col", class: "num" }, "Duration"))),
    tbody);
  const newer = el("button", { type: "button", class: "secondary", disabled: true }, "← Newer");
  const older = el("button", { type: "button", class: "secondary", disabled: true }, "Older →");
  const pageLabel = el("span", { class: "muted", "aria-live": "polite" }, "Page 1");
  const error = el("div", { class: "error", role: "alert", hidden: true });
  newer.addEventListener("click", () => { if (page > 0) { page -= 1; load(true); } });
  older.addEventListener("click", () => { if (tokens[page + 1]) { page += 1; load(true); } });

  container.append(
    el("h1", {}, "Jobs"),
    form,
    error,
    el("div", { class: "table-wrap" }, table),
    el("div", { class: "pager" }, newer, pageLabel, older),
    status,
    live);

  api.backends(signal).then((body) => {
    for (const backend of body.backends) {
      if (backend.name !== filters.target) targetSelect.append(el("option", { value: backend.name }, backend.name));
    }
  }).catch(() => {});

  function cellsOf(job) {
    return {
      state: el("td", { "data-label": "State" }, stateBadge(job.state)),
      duration: el("td", { class: "num", "data-label": "Duration" }, durationOf(job)),
      tenant: el("td", { hidden: !tenantsShown, "data-label": "Tenant" }, job.tenant),
    };
  }

  function makeRow(job, fresh) {
    const cells = cellsOf(job);
    const row = el("tr", { class: fresh ? "fresh" : "", dataset: { jobId: job.id, state: job.state } },
      el("td", { class: "name" }, el("a", { href: `#/jobs/${job.id}` }, job.name || "(unnamed)")),
      el("td", { class: "mono", title: job.id, "data-label": "ID" }, shortId(job.id)),
      cells.state,
      el("td", { "data-label": "Target" }, job.target),
      cells.tenant,
      el("td", { "data-label": "Created" }, el("time", { datetime: job.created_at || "" }, formatDate(job.created_at))),
      cells.duration);
    return { row, cells, job };
  }

  function show(jobs) {
    const tenants = new Set(jobs.map((job) => job.tenant));
    const showTenants = tenants.size > 1 || tenantsShown;
    if (showTenants !== tenantsShown) {
      tenantsShown = showTenants;
      rows = new Map(); // rebuild with the column
      tbody.replaceChildren();
    }
    tenantHeader.hidden = !tenantsShown;
    const fresh = [];
    const next = new Map();
    for (const job of jobs) {
      const seen = rows.get(job.id);
      if (seen) {
        if ((job.last_event_seq || 0) < (seen.job.last_event_seq || 0)) {
          next.set(job.id, seen); // the row already shows a later event than this read
          continue;
        }
        if (seen.row.dataset.state !== job.state) {
          seen.row.dataset.state = job.state;
          seen.cells.state.replaceChildren(stateBadge(job.state));
        }
        seen.cells.duration.textContent = durationOf(job);
        seen.job = job;
        next.set(job.id, seen);
      } else {
        const isNew = known !== null && page === 0 && !known.has(job.id);
        if (isNew) fresh.push(job);
        next.set(job.id, makeRow(job, isNew));
      }
    }
    const order = [...next.values()].map((entry) => entry.row);
    const same = order.length === tbody.children.length && order.every((row, i) => tbody.children[i] === row);
    if (!same) {
      const focused = document.activeElement;
      tbody.replaceChildren(...order);
      if (focused && tbody.contains(focused)) focused.focus();
    }
    rows = next;
    if (page === 0) known = new Set([...(known || []), ...jobs.map((job) => job.id)]);
    if (fresh.length) announce(`${fresh.length} new ${fresh.length === 1 ? "job" : "jobs"}`);
    if (!jobs.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No jobs match these filters.")));
      rows = new Map();
    }
  }

  function applyState(jobId, state, seq) {
    const seen = rows.get(jobId);
    // an event older than what the row shows (across nodes, events may come out of order)
    if (!seen || seq <= (seen.job.last_event_seq || 0)) return;
    seen.job = { ...seen.job, state, last_event_seq: seq };
    if (seen.row.dataset.state === state) return;
    seen.row.dataset.state = state;
    seen.cells.state.replaceChildren(stateBadge(state));
  }

  // A read of the page soon: at most one waits, and reads keep MIN_READ_GAP_MS apart.
  let lastRead = 0;
  let readTimer = null;
  let readAgain = false; // an event came while a read was in flight: read once more after it
  function readSoon() {
    if (signal.aborted) return;
    if (inFlight) { readAgain = true; return; }
    if (readTimer !== null) return;
    const wait = Math.max(DEBOUNCE_MS, lastRead + MIN_READ_GAP_MS - Date.now());
    readTimer = setTimeout(() => {
      readTimer = null;
      if (signal.aborted) return;
      if (inFlight) readAgain = true; // a read began meanwhile (a click): read once more after it
      else load(false).catch(() => {});
    }, wait);
  }
  signal.addEventListener("abort", () => { if (readTimer !== null) clearTimeout(readTimer); }, { once: true });

  function onJobEvent({ event, data }) {
    if (event === "resync") { readSoon(); return; }
    if ((event !== "created" && event !== "state") || !data) return;
    const onPage = rows.has(data.job_id);
    if (onPage) applyState(data.job_id, data.state, data.event_seq);
    // a new job may belong on the newest page; a state change may move a job into or out
    // of a page filtered by state, and changes the duration of a row on the page
    if (onPage || (event === "created" && page === 0) || filters.state) readSoon();
  }

  let inFlight = false; // a read of the page is on its way
  let generation = 0; // counts reads: only the latest one's answer is shown
  async function load(reset = false) {
    if (inFlight && !reset) return;
    inFlight = true;
    const mine = ++generation;
    const wanted = page;
    lastRead = Date.now();
    if (reset) {
      rows = new Map();
      tbody.replaceChildren();
    }
    try {
      const body = await api.listJobs({
        state: filters.state,
        target: filters.target,
        label: filters.label,
        created_after: filters.created_after,
        created_before: filters.created_before,
        page_size: filters.page_size,
        page_token: tokens[wanted],
      }, signal);
      if (mine !== generation) return; // a later read (a click on a pager or Apply) supersedes this one
      error.hidden = true;
      tokens[page + 1] = body.next_page_token;
      tokens.length = page + 2;
      show(body.jobs);
      newer.disabled = page === 0;
      older.disabled = !body.next_page_token;
      pageLabel.textContent = `Page ${page + 1}`;
      status.textContent = `${body.jobs.length} ${body.jobs.length === 1 ? "job" : "jobs"} on this page · updated ${new Date().toLocaleTimeString()}`;
    } catch (failure) {
      if (signal.aborted || mine !== generation) return;
      error.hidden = false;
      error.textContent = `Could not list jobs: ${problemText(failure)}`;
      if (failure.status === 401) throw failure;
    } finally {
      if (mine === generation) {
        inFlight = false;
        if (readAgain) { readAgain = false; readSoon(); }
      }
    }
  }

  await load(true);
  watchJobs(onJobEvent, signal).catch((failure) => {
    if (signal.aborted || failure.status === 401) return; // 401: the sign-in form is back
    // No stream on this server (501, or refused): read the page every few seconds instead.
    live.textContent = "Live updates: every few seconds (this server has no event stream).";
    const timer = setInterval(() => {
      if (!document.hidden && !signal.aborted) load(false).catch(() => {});
    }, FALLBACK_REFRESH_MS);
    signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  });
  // The durations of unfinished jobs count up on the page itself: no request.
  const ticker = setInterval(() => {
    if (document.hidden) return;
    for (const { job, cells } of rows.values()) {
      if (job && !TERMINAL.has(job.state)) cells.duration.textContent = durationOf(job);
    }
  }, TICK_MS);
  signal.addEventListener("abort", () => clearInterval(ticker), { once: true });
}
