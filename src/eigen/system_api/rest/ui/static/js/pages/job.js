// Job: its state, the events as a timeline, the JobSpec the API shows, and once it is DONE
// its results (counts histogram, expectation values, a hybrid job's summary), the compile
// report, downloads, and cancel / resubmit. A hybrid job's convergence curve grows from
// its progress events, live while it runs (the events are followed by a fetch stream).

import { api, ApiError, PROGRAM_SHOWN_BYTES, watchEvents, watchJobs } from "../api.js";
import { convergenceChart, expectationChart, histogram } from "../charts.js";
import {
  announce, el, formatClock, placementOf, formatDate, formatDuration, formatInt, formatNumber, problemText, secondsBetween,
  stateBadge, TERMINAL,
} from "../format.js";

const MAX_EXPERIMENTS_SHOWN = 8;
const REFRESH_MS = 3000; // the job view while it waits, only on a server without the stream of all jobs
const VIEW_DEBOUNCE_MS = 250;
const VIEW_MIN_GAP_MS = 1000;


function definitionList(pairs) {
  return el("dl", { class: "facts" },
    pairs.filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
}

function keyValues(map) {
  const entries = Object.entries(map || {});
  if (!entries.length) return null;
  return el("ul", { class: "chips" }, entries.map(([key, value]) => el("li", { class: "chip" }, `${key}=${value}`)));
}

/** What the job view says was submitted (the program text is shown beside it, from GetJobProgram). */
function specOf(job) {
  const spec = {
    name: job.name,
    namespace: job.namespace,
    workload: job.workload || undefined,
    target: job.target,
    shots: job.shots,
    priority: job.priority,
    language: job.language,
    program: job.program_uri ? { uri: job.program_uri } : { uri: `qfs://${job.id}` },
    labels: job.labels,
    annotations: job.annotations,
    extensions: job.extensions,
  };
  for (const key of ["labels", "annotations", "extensions"]) {
    if (!Object.keys(spec[key] || {}).length) delete spec[key];
  }
  return spec;
}

/** One row per count, expectation value, binding and scalar summary figure:
 * [experiment ("" for the summary), kind, key, value, standard_error ("" when none)]. */
function tidyRows(results) {
  const rows = [];
  results.experiments.forEach((experiment, index) => {
    for (const [outcome, count] of Object.entries(experiment.counts || {})) rows.push([index, "count", outcome, count, ""]);
    (experiment.expectation_values || []).forEach((value, i) =>
      rows.push([index, "expectation_value", String(i), value, (experiment.standard_errors || [])[i] ?? ""]));
    for (const [name, value] of Object.entries(experiment.bindings || {})) rows.push([index, "binding", name, value, ""]);
  });
  for (const [key, value] of Object.entries(results.summary || {})) {
    if (value === null || typeof value !== "object") rows.push(["", "summary", key, value, ""]);
  }
  return rows;
}

function csvOf(results) {
  const quote = (value) => {
    const text = String(value ?? "");
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [["experiment", "kind", "key", "value", "standard_error"], ...tidyRows(results)];
  return `${lines.map((line) => line.map(quote).join(",")).join("\n")}\n`;
}

function download(name, type, content) {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function compileReport(report) {
  if (!report || !report.before || !report.after) return null;
  const { before, after } = report;
  const gates = [...new Set([...Object.keys(before.gate_counts || {}), ...Object.keys(after.gate_counts || {})])].sort();
  const row = (label, a, b, mono = false) => el("tr", {},
    el("th", { scope: "row", class: mono ? "mono" : "" }, label),
    el("td", { class: "num" }, formatInt(a)), el("td", { class: "num" }, formatInt(b)));
  return el("section", { "aria-labelledby": "compile-title" },
    el("h2", { id: "compile-title" }, "Compile report"),
    definitionList([
      ["Device", report.device],
      ["Optimization level", report.optimization_level],
      ["Compile time", report.duration_ms !== undefined ? formatDuration(report.duration_ms / 1000) : null],
      ["Parameters", (report.parameters || []).join(", ")],
    ]),
    el("div", { class: "table-wrap" }, el("table", { class: "compile" },
      el("caption", { class: "visually-hidden" }, "Circuit before and after compilation"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Measure"),
        el("th", { scope: "col", class: "num" }, "Before"), el("th", { scope: "col", class: "num" }, "After"))),
      el("tbody", {},
        row("Qubits", before.num_qubits, after.num_qubits),
        row("Depth", before.depth, after.depth),
        row("Size", before.size, after.size),
        row("Two-qubit gates", before.two_qubit_gates, after.two_qubit_gates),
        gates.map((gate) => row(`${gate} gates`, (before.gate_counts || {})[gate] || 0, (after.gate_counts || {})[gate] || 0, true))))));
}

function parametersTable(parameters, caption) {
  const entries = Object.entries(parameters || {});
  if (!entries.length) return null;
  return el("div", { class: "table-wrap" }, el("table", { class: "parameters" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Parameter"), el("th", { scope: "col", class: "num" }, "Value"))),
    el("tbody", {}, entries.map(([name, value]) => el("tr", {},
      el("th", { scope: "row", class: "mono" }, name), el("td", { class: "num" }, formatNumber(value)))))));
}

function resultsSection(results) {
  const section = el("section", { "aria-labelledby": "results-title", id: "results" },
    el("h2", { id: "results-title" }, "Results"));
  section.append(definitionList([
    ["Backend", results.backend],
    ["Engine", results.engine],
    ["Seed", results.seed !== null && results.seed !== undefined ? String(results.seed) : null],
    ["Calibration", results.calibration_id],
    ["Experiments", formatInt(results.experiments.length)],
  ]));
  const summary = results.summary || {};
  if (Object.keys(summary).length) {
    const scalars = Object.entries(summary).filter(([, v]) => v !== null && typeof v !== "object");
    section.append(el("h3", {}, "Summary"), definitionList(scalars.map(([key, value]) =>
      [key.replace(/_/g, " "), typeof value === "number" ? formatNumber(value) : String(value)])));
    const optimal = summary.optimal_parameters || summary.parameters;
    if (optimal && !Array.isArray(optimal)) section.append(parametersTable(optimal, "Optimal parameters"));
  }
  const experiments = results.experiments.slice(0, MAX_EXPERIMENTS_SHOWN);
  experiments.forEach((experiment, index) => {
    const title = results.experiments.length > 1 ? `Experiment ${index + 1}` : "Counts";
    const block = el("div", { class: "experiment", dataset: { index } });
    if (Object.keys(experiment.counts || {}).length) block.append(histogram(experiment.counts, { caption: title }));
    const values = experiment.expectation_values || [];
    if (values.length) {
      const rows = values.map((value, i) => ({
        label: `⟨O${i + 1}⟩`, value, error: (experiment.standard_errors || [])[i] || 0,
      }));
      block.append(el("h3", {}, `Expectation values${results.experiments.length > 1 ? ` (experiment ${index + 1})` : ""}`),
        expectationChart(rows),
        el("div", { class: "table-wrap" }, el("table", { class: "expectations" },
          el("caption", { class: "visually-hidden" }, "Expectation values"),
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Observable"),
            el("th", { scope: "col", class: "num" }, "Value"), el("th", { scope: "col", class: "num" }, "Standard error"))),
          el("tbody", {}, rows.map((row) => el("tr", {}, el("th", { scope: "row" }, row.label),
            el("td", { class: "num" }, formatNumber(row.value)), el("td", { class: "num" }, formatNumber(row.error))))))));
    }
    if (Object.keys(experiment.bindings || {}).length && !summary.optimal_parameters) {
      block.append(parametersTable(experiment.bindings, `Bindings${results.experiments.length > 1 ? ` of experiment ${index + 1}` : ""}`));
    }
    section.append(block);
  });
  if (results.experiments.length > MAX_EXPERIMENTS_SHOWN) {
    section.append(el("p", { class: "muted" },
      `${formatInt(results.experiments.length - MAX_EXPERIMENTS_SHOWN)} more experiments are in the downloads.`));
  }
  return section;
}

export async function renderJob(container, jobId, signal) {
  let job = await api.getJob(jobId, signal);
  const stateHolder = el("span", { id: "job-state", "aria-live": "polite" }, stateBadge(job.state));
  const facts = el("div", {});
  const actions = el("div", { class: "actions", role: "group", "aria-label": "Job actions" });
  const actionMessage = el("p", { class: "muted", role: "status" });
  const timeline = el("ol", { class: "timeline", id: "timeline" });
  const chart = convergenceChart("energy");
  const progressSection = el("section", { "aria-labelledby": "progress-title", id: "progress", hidden: true },
    el("h2", { id: "progress-title" }, "Convergence"), chart.element);
  const latestParameters = el("div", {});
  progressSection.append(latestParameters);
  const resultsHolder = el("div", {});
  const compileHolder = el("div", {});
  const spec = el("pre", { class: "spec", tabindex: "0", "aria-label": "JobSpec" });
  const programNote = el("p", { class: "muted", id: "program-note" }, "Loading the program…");
  const program = el("pre", { class: "program", tabindex: "0", "aria-label": "Program source", hidden: true });

  container.append(
    el("p", { class: "crumbs" }, el("a", { href: "#/jobs" }, "Jobs"), " / ", el("span", { class: "mono" }, job.id)),
    el("h1", {}, job.name || "(unnamed job)", " ", stateHolder),
    actions, actionMessage, facts, progressSection, resultsHolder,
    el("section", { "aria-labelledby": "timeline-title" }, el("h2", { id: "timeline-title" }, "Timeline"), timeline),
    compileHolder,
    el("section", { "aria-labelledby": "spec-title" }, el("h2", { id: "spec-title" }, "JobSpec"),
      el("p", { class: "muted" }, "As the job view shows it (resubmitting uses the stored program)."),
      spec),
    el("section", { "aria-labelledby": "program-title" }, el("h2", { id: "program-title" }, "Program"),
      programNote, program));

  async function loadProgram() {
    try {
      const body = await api.program(job.id, signal);
      program.textContent = body.source;
      program.hidden = false;
      const size = `${formatInt(body.size_bytes)} bytes`;
      const origin = body.program_uri ? ` · from ${body.program_uri}` : "";
      const entry = body.language === "EIGEN_LANG" ? ` · entrypoint ${body.entrypoint}` : "";
      programNote.textContent = body.truncated
        ? `${body.language} · ${size}; the first ${formatInt(PROGRAM_SHOWN_BYTES)} bytes are shown${origin}${entry}`
        : `${body.language} · ${size}${origin}${entry}`;
    } catch (error) {
      if (signal.aborted) return;
      programNote.textContent = `The program could not be read: ${problemText(error)}`;
    }
  }

  function renderFacts() {
    const queue = placementOf(job);
    facts.replaceChildren(definitionList([
      ["Job ID", el("span", { class: "mono" }, job.id)],
      ["Target", job.target],
      ["Tenant", job.tenant],
      ["Owner", job.owner],
      ["Shots", formatInt(job.shots)],
      ["Priority", formatInt(job.priority)],
      ["Language", job.language],
      ["Created", el("time", { datetime: job.created_at || "" }, formatDate(job.created_at))],
      ["Started", job.started_at ? el("time", { datetime: job.started_at }, formatDate(job.started_at)) : null],
      ["Finished", job.finished_at ? el("time", { datetime: job.finished_at }, formatDate(job.finished_at)) : null],
      ["Run time", job.started_at ? formatDuration(secondsBetween(job.started_at, job.finished_at)) : null],
      ["Stage times", Object.keys(job.timings || {}).length
        ? Object.entries(job.timings).map(([stage, seconds]) => `${stage.replace(/_s$/, "")} ${formatDuration(seconds)}`).join(" · ")
        : null],
      ["Attempt", job.attempt > 1 ? formatInt(job.attempt) : null],
      ["Worker", job.worker],
      ["Queue", queue ? `${queue.device || job.target}${queue.stage ? ` (${queue.stage})` : ""}` : null],
      ["Queue position", queue && queue.position !== undefined && queue.position !== null ? formatInt(queue.position) : null],
      ["Device slots", queue && queue.slots ? formatInt(queue.slots) : null],
      ["Estimated start", queue && queue.estimated_start ? formatDate(queue.estimated_start) : null],
      ["Waiting because", queue && queue.reason ? queue.reason : null],
      ["Phase", job.progress && job.progress.phase ? job.progress.phase : null],
      ["Error", job.error_code ? `${job.error_code}: ${job.error_summary}` : null],
      ["Labels", keyValues(job.labels)],
      ["Annotations", keyValues(job.annotations)],
    ]));
    spec.textContent = JSON.stringify(specOf(job), null, 2);
  }

  let results = null;
  let cancelArmed = false;
  function renderActions() {
    actions.replaceChildren();
    if (!TERMINAL.has(job.state)) {
      if (!cancelArmed) {
        actions.append(el("button", { type: "button", class: "danger", id: "cancel", onclick: () => {
          cancelArmed = true; renderActions(); actions.querySelector("#confirm-cancel").focus();
        } }, "Cancel job"));
      } else {
        actions.append(
          el("button", { type: "button", class: "danger", id: "confirm-cancel", onclick: cancel }, "Confirm cancel"),
          el("button", { type: "button", class: "secondary", onclick: () => { cancelArmed = false; renderActions(); } }, "Keep running"));
      }
    } else {
      actions.append(el("button", { type: "button", id: "resubmit", onclick: resubmit }, "Resubmit"));
    }
    if (results) {
      actions.append(
        el("button", { type: "button", class: "secondary", id: "download-json",
          onclick: () => download(`${job.id}-results.json`, "application/json", JSON.stringify(results, null, 2)) }, "Download JSON"),
        el("button", { type: "button", class: "secondary", id: "download-csv",
          onclick: () => download(`${job.id}-results.csv`, "text/csv", csvOf(results)) }, "Download CSV"),
        el("button", { type: "button", class: "secondary", id: "download-parquet", onclick: downloadParquet },
          "Download Parquet"));
    }
  }

  // Parquet is written by the server (pyarrow): fetched with the credential, saved as a blob.
  async function downloadParquet() {
    actionMessage.textContent = "Preparing the Parquet file…";
    try {
      const blob = await api.resultsParquet(job.id, signal);
      download(`${job.id}-results.parquet`, "application/vnd.apache.parquet", blob);
      actionMessage.textContent = "";
    } catch (error) {
      if (!signal.aborted) actionMessage.textContent = `Could not download Parquet: ${problemText(error)}`;
    }
  }

  async function cancel() {
    cancelArmed = false;
    actionMessage.textContent = "Cancelling…";
    try {
      job = await api.cancel(job.id);
      update();
      actionMessage.textContent = "Cancel requested.";
      announce("Cancel requested");
    } catch (error) {
      actionMessage.textContent = error.status === 403
        ? `You may not cancel this job: ${problemText(error)}`
        : `Could not cancel: ${problemText(error)}`;
      renderActions();
    }
  }

  async function resubmit() {
    actionMessage.textContent = "Submitting…";
    const body = {
      name: job.name,
      program: { uri: job.program_uri || `qfs://${job.id}` },
      target: job.target,
      shots: job.shots,
      priority: job.priority,
      labels: job.labels,
      annotations: { ...job.annotations, "resubmitted-from": job.id },
      namespace: job.namespace === "default" ? "" : job.namespace,
      workload: job.workload,
      extensions: job.extensions,
    };
    try {
      const answer = await api.submit(body);
      announce("Resubmitted");
      location.hash = `#/jobs/${answer.job.id}`;
    } catch (error) {
      actionMessage.textContent = error.status === 403
        ? `You may not submit this job: ${problemText(error)}`
        : `Could not resubmit: ${problemText(error)}`;
    }
  }

  function update() {
    stateHolder.replaceChildren(stateBadge(job.state));
    renderFacts();
    renderActions();
  }

  let resultsLoading = null;
  function loadResults() {
    if (job.state !== "DONE") return Promise.resolve();
    if (!resultsLoading) resultsLoading = fetchResults();
    return resultsLoading;
  }

  async function fetchResults() {
    try {
      results = await api.results(job.id, signal);
    } catch (error) {
      if (signal.aborted) return;
      resultsHolder.replaceChildren(el("p", { class: "error" }, `No results: ${problemText(error)}`));
      return;
    }
    resultsHolder.replaceChildren(resultsSection(results));
    if ((results.summary || {}).optimal_parameters) latestParameters.replaceChildren(); // shown with the results
    const report = compileReport(results.compile_report);
    compileHolder.replaceChildren(...(report ? [report] : []));
    const history = (results.summary || {}).history;
    if (Array.isArray(history) && history.length > points.length) {
      points = history.filter((p) => typeof p.energy === "number");
      progressSection.hidden = false;
      chart.update(points);
    }
    renderActions();
  }

  // -- events: the timeline and the convergence curve ---------------------------------------
  const stateEvents = [];
  let points = [];
  function renderTimeline() {
    timeline.replaceChildren(...stateEvents.map((event, index) => {
      const next = stateEvents[index + 1];
      const spent = next ? secondsBetween(event.timestamp, next.timestamp)
        : event.terminal ? null : secondsBetween(event.timestamp);
      return el("li", { class: "step", dataset: { state: event.state } },
        el("span", { class: "step-state" }, stateBadge(event.state)),
        el("span", { class: "step-message" }, event.message || ""),
        el("time", { datetime: event.timestamp || "" }, formatClock(event.timestamp)),
        el("span", { class: "step-duration" }, spent === null ? "" : next ? formatDuration(spent) : `${formatDuration(spent)} so far`));
    }));
  }
  function onEvent({ event, data }) {
    if (event === "state") {
      stateEvents.push(data);
      renderTimeline();
      if (data.state !== job.state) {
        job = { ...job, state: data.state };
        update();
        announce(`Job is ${data.state}`);
      }
    } else if (event === "progress" && data.data) {
      job = { ...job, progress: data.data };
      if (typeof data.data.energy === "number" && typeof data.data.iteration === "number") {
        points.push({ iteration: data.data.iteration, energy: data.data.energy, std_error: data.data.std_error || 0 });
        progressSection.hidden = false;
        chart.update(points);
        if (data.data.parameters) {
          latestParameters.replaceChildren(parametersTable(data.data.parameters, `Parameters at iteration ${formatInt(data.data.iteration)}`));
        }
      }
    }
  }

  update();
  if (job.state === "DONE") loadResults();
  follow(); // in the background: the page is on screen already
  loadProgram();
  followQueue();

  // While the job waits, its placement (position, estimated start) moves when other jobs
  // move: any job's created or state event (the stream of all jobs) reads the job view
  // again, debounced; nothing is read while nothing moves. A server without that stream
  // (501) has the view read every few seconds instead.
  function followQueue() {
    if (TERMINAL.has(job.state)) return;
    const queueSignal = new AbortController();
    signal.addEventListener("abort", () => queueSignal.abort(), { once: true });
    let timer = null;
    let lastRead = 0;
    const readView = async () => {
      timer = null;
      lastRead = Date.now();
      if (signal.aborted) return;
      if (TERMINAL.has(job.state)) { queueSignal.abort(); return; }
      try {
        const fresh = await api.getJob(job.id, signal);
        if (TERMINAL.has(job.state)) return; // the event stream got there first
        job = { ...fresh, state: job.state };
        renderFacts();
      } catch {
        // the event stream reports what matters; the next event tries again
      }
    };
    const readSoon = () => {
      if (timer === null) timer = setTimeout(readView, Math.max(VIEW_DEBOUNCE_MS, lastRead + VIEW_MIN_GAP_MS - Date.now()));
    };
    queueSignal.signal.addEventListener("abort", () => { if (timer !== null) clearTimeout(timer); }, { once: true });
    watchJobs(({ event }) => {
      if (event === "created" || event === "state" || event === "resync") readSoon();
    }, queueSignal.signal).catch((failure) => {
      if (queueSignal.signal.aborted || failure.status === 401) return;
      const fallback = setInterval(() => {
        if (TERMINAL.has(job.state)) clearInterval(fallback);
        else if (!document.hidden) readView();
      }, REFRESH_MS);
      queueSignal.signal.addEventListener("abort", () => clearInterval(fallback), { once: true });
    });
  }

  async function follow() {
    try {
      await watchEvents(job.id, onEvent, signal);
    } catch (error) {
      if (signal.aborted || (error instanceof ApiError && error.status === 401)) return;
      actionMessage.textContent = `Live updates stopped: ${problemText(error)}`;
    }
    if (signal.aborted) return;
    renderTimeline();
    try {
      job = await api.getJob(job.id, signal);
    } catch {
      return;
    }
    update();
    await loadResults();
  }
}
