// Backends: each device with its status, queue depth, width, basis gates, its coupling map
// drawn as a graph, and the latest calibration where the device has one.

import { api } from "../api.js";
import { couplingMap } from "../charts.js";
import { el, formatInt, formatRate as formatPercent, formatSi, problemText } from "../format.js";

// A slow timer stays here: a device's status (ONLINE, OFFLINE, ...) has no events to follow.
const REFRESH_MS = 5000;
const UNFINISHED = ["PENDING", "COMPILING", "QUEUED", "RUNNING"];
const LIMIT = 500;

function statusBadge(status) {
  return el("span", { class: `status status-${status.toLowerCase()}` }, status);
}

function mean(values) {
  const numbers = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  return numbers.length ? numbers.reduce((a, b) => a + b, 0) / numbers.length : null;
}

function calibrationBlock(calibration) {
  const qubits = calibration.qubits || [];
  const gates = calibration.gates || [];
  const rows = qubits.map((q) => el("tr", {},
    el("th", { scope: "row" }, String(q.qubit)),
    el("td", { class: "num" }, formatSi(q.t1_s, "s")),
    el("td", { class: "num" }, formatSi(q.t2_s, "s")),
    el("td", { class: "num" }, formatSi(q.frequency_hz, "Hz")),
    el("td", { class: "num" }, typeof q.readout_error === "number" ? formatPercent(q.readout_error) : "–")));
  const byGate = new Map();
  for (const gate of gates) {
    const name = gate.gate || gate.name || "?";
    if (!byGate.has(name)) byGate.set(name, []);
    byGate.get(name).push(gate);
  }
  const gateRows = [...byGate.entries()].map(([name, list]) => el("tr", {},
    el("th", { scope: "row", class: "mono" }, name),
    el("td", { class: "num" }, formatInt(list.length)),
    el("td", { class: "num" }, (() => { const e = mean(list.map((g) => g.error)); return e === null ? "–" : formatPercent(e); })()),
    el("td", { class: "num" }, (() => { const d = mean(list.map((g) => g.duration_s ?? g.length_s)); return d === null ? "–" : formatSi(d, "s"); })())));
  const median = (values) => {
    const numbers = values.filter((v) => typeof v === "number" && Number.isFinite(v)).sort((a, b) => a - b);
    return numbers.length ? numbers[Math.floor(numbers.length / 2)] : null;
  };
  const twoQubit = gates.filter((g) => (g.qubits || []).length === 2).map((g) => g.error);
  const summary = el("p", { class: "calibration-summary" },
    `Median T1 ${formatSi(median(qubits.map((q) => q.t1_s)), "s")} · T2 ${formatSi(median(qubits.map((q) => q.t2_s)), "s")}` +
    ` · readout error ${(() => { const m = median(qubits.map((q) => q.readout_error)); return m === null ? "–" : formatPercent(m); })()}` +
    (twoQubit.length ? ` · two-qubit gate error ${formatPercent(median(twoQubit))}` : ""));
  return el("div", {}, summary, el("details", { class: "calibration" },
    el("summary", {}, `Calibration ${calibration.calibration_id} (taken ${new Date(calibration.taken_at).toLocaleString()})`),
    rows.length ? el("div", { class: "table-wrap" }, el("table", {},
      el("caption", {}, "Qubits"),
      el("thead", {}, el("tr", {}, ["Qubit", "T1", "T2", "Frequency", "Readout error"].map((h, i) =>
        el("th", { scope: "col", class: i ? "num" : "" }, h)))),
      el("tbody", {}, rows))) : null,
    gateRows.length ? el("div", { class: "table-wrap" }, el("table", {},
      el("caption", {}, "Gates (mean over their qubits)"),
      el("thead", {}, el("tr", {}, ["Gate", "Instances", "Error", "Duration"].map((h, i) =>
        el("th", { scope: "col", class: i ? "num" : "" }, h)))),
      el("tbody", {}, gateRows))) : null));
}

function card(backend, calibrations) {
  const depth = el("dd", { dataset: { queueDepth: backend.name } }, "…");
  const status = el("dd", {}, statusBadge(backend.status));
  const kind = [backend.simulator ? "simulator" : "device", backend.noisy ? "noisy" : null,
    backend.clifford_only ? "Clifford only" : null].filter(Boolean).join(", ");
  const article = el("article", { class: "backend card", dataset: { backend: backend.name }, "aria-labelledby": `b-${backend.name}` },
    el("h2", { id: `b-${backend.name}` }, backend.name),
    backend.description ? el("p", { class: "muted" }, backend.description) : null,
    el("dl", { class: "facts" },
      el("dt", {}, "Status"), status,
      el("dt", {}, "Queue"), depth,
      el("dt", {}, "Qubits"), el("dd", {}, formatInt(backend.num_qubits)),
      el("dt", {}, "Kind"), el("dd", {}, kind),
      el("dt", {}, "Max shots"), el("dd", {}, formatInt(backend.max_shots)),
      backend.aliases.length ? [el("dt", {}, "Aliases"), el("dd", {}, backend.aliases.join(", "))] : null),
    el("h3", {}, "Basis gates"),
    el("ul", { class: "chips" }, backend.basis_gates.map((gate) => el("li", { class: "chip mono" }, gate))),
    el("h3", {}, "Coupling map"),
    backend.coupling_map.length
      ? couplingMap(backend.num_qubits, backend.coupling_map, backend.name)
      : el("p", { class: "muted" }, "All-to-all: every pair of qubits couples."));
  const calibrationHolder = el("div", {});
  article.append(calibrationHolder);
  if (backend.calibration_id) {
    calibrations(backend.name).then((calibration) => {
      if (calibration) calibrationHolder.replaceChildren(calibrationBlock(calibration));
    });
  }
  return { article, depth, status };
}

export async function renderBackends(container, signal) {
  const body = await api.backends(signal);
  const error = el("div", { class: "error", role: "alert", hidden: true });
  const grid = el("div", { class: "cards" });
  const total = el("span", { id: "queue-depth" }, formatInt(body.backends.length ? body.backends[0].queue_depth : 0));
  container.append(el("h1", {}, "Backends"),
    el("p", { class: "muted" }, `${formatInt(body.backends.length)} backends · the server's queue holds `, total,
      ` jobs in all · each backend's running and waiting jobs refresh every ${REFRESH_MS / 1000} s.`),
    error, grid);
  const calibrations = (name) => api.calibration(name, signal).catch(() => null);
  const cards = new Map();
  for (const backend of body.backends) {
    const made = card(backend, calibrations);
    cards.set(backend.name, made);
    grid.append(made.article);
  }
  // The API's queue_depth counts the whole queue; per backend, count its unfinished jobs.
  async function refresh(fresh) {
    const listing = await api.listJobs({ state: UNFINISHED, page_size: LIMIT }, signal);
    const counts = new Map();
    for (const job of listing.jobs) {
      const count = counts.get(job.target) || { running: 0, waiting: 0 };
      if (job.state === "RUNNING") count.running += 1;
      else count.waiting += 1;
      counts.set(job.target, count);
    }
    const more = listing.next_page_token ? "+" : "";
    for (const backend of fresh.backends) {
      const made = cards.get(backend.name);
      if (!made) continue;
      const count = counts.get(backend.name) || { running: 0, waiting: 0 };
      made.depth.textContent = `${formatInt(count.running)}${more} running · ${formatInt(count.waiting)}${more} waiting`;
      made.status.replaceChildren(statusBadge(backend.status));
    }
    if (fresh.backends.length) total.textContent = formatInt(fresh.backends[0].queue_depth);
  }
  refresh(body).catch(() => {});
  const timer = setInterval(async () => {
    if (document.hidden || signal.aborted) return;
    try {
      await refresh(await api.backends(signal));
      error.hidden = true;
    } catch (failure) {
      if (signal.aborted) return;
      error.hidden = false;
      error.textContent = `Could not refresh: ${problemText(failure)}`;
    }
  }, REFRESH_MS);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
}
