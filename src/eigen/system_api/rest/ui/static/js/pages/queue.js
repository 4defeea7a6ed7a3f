// Queue: the unfinished jobs (PENDING, COMPILING, QUEUED, RUNNING) grouped by backend,
// running first, then waiting in the order the scheduler gives (a job's `queue` object,
// position / estimated_start / reason, where the server provides one; else by priority
// and age). Live: the stream of every job (`GET /v1/jobs:events`) reads the queue again
// when a job is created or changes state (debounced: a burst costs one read, and reads
// keep a second apart), so nothing is read while nothing moves. Only a server without
// the stream (501) is read every few seconds instead.

import { api, watchJobs } from "../api.js";
import {
  el, formatDate, formatDuration, formatInt, placementOf, problemText, secondsBetween, shortId, stateBadge,
} from "../format.js";

const FALLBACK_REFRESH_MS = 3000; // only where the server has no stream of all jobs
const DEBOUNCE_MS = 250;
const MIN_READ_GAP_MS = 1000; // a read of the queue is larger (500 jobs, and placements): at most one a second
const PLACEMENTS = 24; // waiting jobs whose placement is read (GetJob) per refresh, the first in line
const UNFINISHED = ["PENDING", "COMPILING", "QUEUED", "RUNNING"];
const LIMIT = 500; // one page of the largest size: the queue view is a summary, not a list of everything

function positionOf(job) {
  const placement = placementOf(job);
  return placement && Number.isFinite(placement.position) ? placement.position : Infinity;
}

function order(a, b) {
  const pa = positionOf(a);
  const pb = positionOf(b);
  if (pa !== pb) return pa - pb;
  if (a.priority !== b.priority) return b.priority - a.priority;
  return (a.created_at || "") < (b.created_at || "") ? -1 : 1;
}

function jobRow(job) {
  const queue = placementOf(job) || {};
  return el("tr", { dataset: { jobId: job.id, state: job.state } },
    el("td", { class: "num" }, Number.isFinite(queue.position) ? formatInt(queue.position) : "–"),
    el("td", {}, el("a", { href: `#/jobs/${job.id}` }, job.name || "(unnamed)"), " ",
      el("span", { class: "mono muted", title: job.id }, shortId(job.id))),
    el("td", {}, stateBadge(job.state)),
    el("td", { class: "num" }, formatInt(job.priority)),
    el("td", {}, job.state === "RUNNING" && job.started_at
      ? `running ${formatDuration(secondsBetween(job.started_at))}`
      : `waiting ${formatDuration(secondsBetween(job.created_at))}`),
    el("td", {}, queue.estimated_start ? formatDate(queue.estimated_start) : "–"),
    el("td", {}, queue.reason || (job.progress && job.progress.phase) || ""));
}

function group(name, jobs) {
  const running = jobs.filter((job) => job.state === "RUNNING").sort(order);
  const waiting = jobs.filter((job) => job.state !== "RUNNING").sort(order);
  const id = `q-${name.replace(/[^A-Za-z0-9_-]/g, "-")}`;
  return el("section", { class: "queue-group card", dataset: { backend: name }, "aria-labelledby": id },
    el("h2", { id }, name),
    el("p", { class: "counts" },
      el("span", { dataset: { count: "running" } }, `${formatInt(running.length)} running`), " · ",
      el("span", { dataset: { count: "waiting" } }, `${formatInt(waiting.length)} waiting`)),
    jobs.length ? el("div", { class: "table-wrap" }, el("table", {},
      el("caption", { class: "visually-hidden" }, `Unfinished jobs on ${name}`),
      el("thead", {}, el("tr", {}, ["Position", "Job", "State", "Priority", "For", "Estimated start", "Reason"].map((h) =>
        el("th", { scope: "col", class: h === "Position" || h === "Priority" ? "num" : "" }, h)))),
      el("tbody", {}, [...running, ...waiting].map(jobRow)))) : el("p", { class: "muted" }, "Nothing waiting or running."));
}

export async function renderQueue(container, signal) {
  const holder = el("div", { class: "queue" });
  const status = el("p", { class: "muted" });
  const error = el("div", { class: "error", role: "alert", hidden: true });
  container.append(el("h1", {}, "Queue"), status, error, holder);
  const placements = new Map(); // job id -> placement, read with GetJob

  function show(jobs, listing, backends) {
    const byTarget = new Map(backends.backends.map((b) => [b.name, []]));
    for (const job of jobs) {
      if (!byTarget.has(job.target)) byTarget.set(job.target, []);
      byTarget.get(job.target).push(job);
    }
    const names = [...byTarget.keys()].sort((a, b) => byTarget.get(b).length - byTarget.get(a).length || (a < b ? -1 : 1));
    const focused = holder.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
    // backends with unfinished jobs get the full width for their table; idle ones share a grid
    const busy = names.filter((name) => byTarget.get(name).length);
    const idle = names.filter((name) => !byTarget.get(name).length);
    holder.replaceChildren(
      ...busy.map((name) => group(name, byTarget.get(name))),
      idle.length ? el("div", { class: "cards" }, idle.map((name) => group(name, []))) : "");
    if (focused) {
      const again = holder.querySelector(`a[href="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
    const more = listing.next_page_token ? ` (the ${formatInt(LIMIT)} newest shown)` : "";
    const depth = backends.backends.length ? ` · the server's queue depth ${formatInt(backends.backends[0].queue_depth)}` : "";
    status.textContent = `${formatInt(jobs.length)} unfinished jobs${more}${depth} · updated ${new Date().toLocaleTimeString()}`;
  }

  let inFlight = false;
  let lastRead = 0;
  let readTimer = null;
  let readAgain = false;
  function readSoon() {
    if (signal.aborted) return;
    if (inFlight) { readAgain = true; return; }
    if (readTimer !== null) return;
    readTimer = setTimeout(() => {
      readTimer = null;
      if (signal.aborted) return;
      if (inFlight) readAgain = true; // a read began meanwhile (a click): read once more after it
      else load().catch(() => {});
    }, Math.max(DEBOUNCE_MS, lastRead + MIN_READ_GAP_MS - Date.now()));
  }
  signal.addEventListener("abort", () => { if (readTimer !== null) clearTimeout(readTimer); }, { once: true });

  async function load() {
    if (inFlight) return;
    inFlight = true;
    lastRead = Date.now();
    try {
      const [listing, backends] = await Promise.all([
        api.listJobs({ state: UNFINISHED, page_size: LIMIT }, signal),
        api.backends(signal).catch(() => ({ backends: [] })),
      ]);
      error.hidden = true;
      const withKnown = () => listing.jobs.map((job) =>
        (job.state !== "RUNNING" && placements.has(job.id) ? { ...job, placement: placements.get(job.id) } : job));
      show(withKnown(), listing, backends); // on screen after one round trip
      // The listing has no placement (GetJob has it, where the server provides one): read it
      // for the waiting jobs first in line, then show them again in queue order.
      const waiting = withKnown().filter((job) => job.state !== "RUNNING").sort(order).slice(0, PLACEMENTS);
      const placed = await Promise.all(waiting.map((job) => api.getJob(job.id, signal).catch(() => null)));
      if (signal.aborted) return;
      const current = new Set(listing.jobs.map((job) => job.id));
      for (const id of placements.keys()) if (!current.has(id)) placements.delete(id);
      for (const view of placed) {
        if (view && placementOf(view)) placements.set(view.id, placementOf(view));
        else if (view) placements.delete(view.id);
      }
      if (placed.some(Boolean)) show(withKnown(), listing, backends);
    } catch (failure) {
      if (signal.aborted) return;
      error.hidden = false;
      error.textContent = `Could not read the queue: ${problemText(failure)}`;
      if (failure.status === 401) throw failure;
    } finally {
      inFlight = false;
      if (readAgain) { readAgain = false; readSoon(); }
    }
  }
  await load();
  watchJobs(({ event }) => {
    if (event === "created" || event === "state" || event === "resync") readSoon();
  }, signal).catch((failure) => {
    if (signal.aborted || failure.status === 401) return;
    const timer = setInterval(() => {
      if (!document.hidden && !signal.aborted) load().catch(() => {});
    }, FALLBACK_REFRESH_MS);
    signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  });
}
