// Charts, hand-written: a histogram as a table with bars (readable by screen readers as
// the table it is), and SVG for the convergence curve, expectation values with error bars
// and a coupling map. Each SVG carries a <title> and <desc>, and the numbers it draws are
// also in a table or text beside it.

import { el, formatInt, formatNumber, formatPercent, svg } from "./format.js";

/** The `top` most frequent outcomes, the rest summed into one row. */
export function topCounts(counts, top = 16) {
  const entries = Object.entries(counts || {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = entries.slice(0, top);
  const rest = entries.slice(top);
  const restTotal = rest.reduce((sum, [, count]) => sum + count, 0);
  return { shown, restOutcomes: rest.length, restTotal };
}

export function histogram(counts, { top = 16, caption = "Counts" } = {}) {
  const total = Object.values(counts || {}).reduce((sum, count) => sum + count, 0);
  const { shown, restOutcomes, restTotal } = topCounts(counts, top);
  // bars are scaled to the largest single outcome; the summed rest is capped at that width
  // (its count and share say how large it is)
  const max = Math.max(1, ...shown.map(([, count]) => count));
  const row = (label, count, extraClass) =>
    el("tr", { class: extraClass },
      el("th", { scope: "row", class: "mono" }, label),
      el("td", { class: "num" }, formatInt(count)),
      el("td", { class: "num" }, total ? formatPercent(count / total) : "–"),
      el("td", { class: "bar-cell", "aria-hidden": "true" },
        el("span", { class: extraClass.includes("rest") ? "bar bar-rest" : "bar",
          style: `width: ${Math.min(100, (100 * count) / max)}%` })));
  const rows = shown.map(([outcome, count]) => row(outcome, count, "outcome"));
  if (restOutcomes) {
    rows.push(row(`${formatInt(restOutcomes)} other outcomes`, restTotal, "outcome rest"));
  }
  return el("table", { class: "histogram" },
    el("caption", {}, `${caption}: ${formatInt(total)} shots, ${formatInt(shown.length + restOutcomes)} outcomes`),
    el("thead", {}, el("tr", {},
      el("th", { scope: "col" }, "Outcome"),
      el("th", { scope: "col", class: "num" }, "Count"),
      el("th", { scope: "col", class: "num" }, "Share"),
      el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Bar")))),
    el("tbody", {}, rows));
}

function niceTicks(min, max, count = 5) {
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    min -= pad;
    max += pad;
  }
  const step0 = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= step0) || step0;
  const start = Math.floor(min / step) * step;
  const ticks = [];
  for (let v = start; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

const W = 640;
const H = 280;
const M = { left: 72, right: 16, top: 12, bottom: 40 };

function axes(xTicks, yTicks, x, y, xLabel, yLabel) {
  const parts = [];
  for (const tick of yTicks) {
    parts.push(svg("line", { class: "grid", x1: M.left, x2: W - M.right, y1: y(tick), y2: y(tick) }));
    parts.push(svg("text", { class: "tick", x: M.left - 6, y: y(tick) + 4, "text-anchor": "end" }, formatNumber(tick)));
  }
  for (const tick of xTicks) {
    parts.push(svg("text", { class: "tick", x: x(tick), y: H - M.bottom + 16, "text-anchor": "middle" }, formatNumber(tick)));
  }
  parts.push(svg("line", { class: "axis", x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }));
  parts.push(svg("line", { class: "axis", x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom }));
  parts.push(svg("text", { class: "axis-label", x: (M.left + W - M.right) / 2, y: H - 6, "text-anchor": "middle" }, xLabel));
  parts.push(svg("text", { class: "axis-label", x: 14, y: (M.top + H - M.bottom) / 2, "text-anchor": "middle",
    transform: `rotate(-90 14 ${(M.top + H - M.bottom) / 2})` }, yLabel));
  return parts;
}

/**
 * The convergence curve: points [{iteration, energy, std_error}], redrawn in place by
 * `update(points)` as progress events arrive.
 */
export function convergenceChart(label = "energy") {
  const figure = el("figure", { class: "chart convergence" });
  const holder = el("div", { class: "chart-svg" });
  const caption = el("figcaption", {}, "Waiting for the first iteration…");
  figure.append(holder, caption);
  function update(points) {
    figure.dataset.points = String(points.length);
    holder.replaceChildren();
    if (!points.length) return;
    const xs = points.map((p) => p.iteration);
    const ys = points.map((p) => p.energy);
    const lows = points.map((p) => p.energy - (p.std_error || 0));
    const highs = points.map((p) => p.energy + (p.std_error || 0));
    const xTicks = niceTicks(Math.min(...xs, 0), Math.max(...xs, 1));
    const yTicks = niceTicks(Math.min(...lows), Math.max(...highs));
    const x = (v) => M.left + ((v - xTicks[0]) / (xTicks[xTicks.length - 1] - xTicks[0])) * (W - M.left - M.right);
    const y = (v) => H - M.bottom - ((v - yTicks[0]) / (yTicks[yTicks.length - 1] - yTicks[0])) * (H - M.top - M.bottom);
    const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.iteration).toFixed(1)},${y(p.energy).toFixed(1)}`).join(" ");
    const band = points.some((p) => p.std_error)
      ? svg("path", { class: "band", d: `${points.map((p, i) => `${i ? "L" : "M"}${x(p.iteration)},${y(p.energy + (p.std_error || 0))}`).join(" ")} ${[...points].reverse().map((p) => `L${x(p.iteration)},${y(p.energy - (p.std_error || 0))}`).join(" ")} Z` })
      : null;
    const lastPoint = points[points.length - 1];
    const best = Math.min(...ys);
    holder.append(svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "conv-title conv-desc" },
      svg("title", { id: "conv-title" }, `Convergence of ${label}`),
      svg("desc", { id: "conv-desc" }, `${points.length} iterations; last ${label} ${formatNumber(lastPoint.energy)}, lowest ${formatNumber(best)}`),
      axes(xTicks, yTicks, x, y, "iteration", label),
      band,
      svg("path", { class: "line", d: path }),
      svg("circle", { class: "last", cx: x(lastPoint.iteration), cy: y(lastPoint.energy), r: 4 })));
    caption.textContent = `${formatInt(points.length)} iterations · last ${label} ${formatNumber(lastPoint.energy)}` +
      (lastPoint.std_error ? ` ± ${formatNumber(lastPoint.std_error)}` : "") + ` · lowest ${formatNumber(best)}`;
  }
  return { element: figure, update };
}

/** Expectation values with ±1 standard error bars: rows [{label, value, error}]. */
export function expectationChart(rows) {
  const height = Math.max(120, 36 * rows.length + M.top + M.bottom);
  const lows = rows.map((r) => r.value - (r.error || 0));
  const highs = rows.map((r) => r.value + (r.error || 0));
  const ticks = niceTicks(Math.min(...lows, 0), Math.max(...highs, 0));
  const left = 140;
  const x = (v) => left + ((v - ticks[0]) / (ticks[ticks.length - 1] - ticks[0])) * (W - left - M.right);
  const parts = [];
  for (const tick of ticks) {
    parts.push(svg("line", { class: "grid", x1: x(tick), x2: x(tick), y1: M.top, y2: height - M.bottom }));
    parts.push(svg("text", { class: "tick", x: x(tick), y: height - M.bottom + 16, "text-anchor": "middle" }, formatNumber(tick)));
  }
  rows.forEach((row, index) => {
    const cy = M.top + 18 + index * 36;
    parts.push(svg("text", { class: "tick", x: left - 8, y: cy + 4, "text-anchor": "end" }, row.label));
    if (row.error) {
      parts.push(svg("line", { class: "error-bar", x1: x(row.value - row.error), x2: x(row.value + row.error), y1: cy, y2: cy }));
      for (const end of [row.value - row.error, row.value + row.error]) {
        parts.push(svg("line", { class: "error-bar", x1: x(end), x2: x(end), y1: cy - 6, y2: cy + 6 }));
      }
    }
    parts.push(svg("circle", { class: "point", cx: x(row.value), cy, r: 5 }));
  });
  return el("figure", { class: "chart" },
    svg("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": "Expectation values with standard errors" },
      svg("title", {}, "Expectation values with ±1 standard error"), parts),
    el("figcaption", {}, "Points: expectation values; bars: ±1 standard error."));
}

/** The coupling map as a graph: qubits on a circle (a line for a chain), edges undirected. */
export function couplingMap(numQubits, edges, name) {
  const pairs = new Map();
  for (const { control, target } of edges) {
    const key = control < target ? `${control}-${target}` : `${target}-${control}`;
    pairs.set(key, [Math.min(control, target), Math.max(control, target)]);
  }
  const size = 220;
  const center = size / 2;
  const radius = numQubits <= 2 ? 50 : size / 2 - 24;
  const order = pathOrder(numQubits, [...pairs.values()]);
  const position = order
    ? (q) => {  // a chain: qubits on a line, in chain order
      const step = Math.min(44, (size - 40) / Math.max(1, numQubits - 1));
      const start = center - (step * (numQubits - 1)) / 2;
      return [start + step * order.indexOf(q), 30];
    }
    : (q) => {  // anything else: qubits on a circle
      const angle = (2 * Math.PI * q) / numQubits - Math.PI / 2;
      return [center + radius * Math.cos(angle), center + radius * Math.sin(angle)];
    };
  const parts = [];
  for (const [a, b] of pairs.values()) {
    const [x1, y1] = position(a);
    const [x2, y2] = position(b);
    parts.push(svg("line", { class: "edge", x1, y1, x2, y2 }));
  }
  for (let q = 0; q < numQubits; q += 1) {
    const [cx, cy] = position(q);
    parts.push(svg("g", { class: "qubit" },
      svg("circle", { cx, cy, r: 13 }),
      svg("text", { x: cx, y: cy + 4, "text-anchor": "middle" }, String(q))));
  }
  const list = [...pairs.values()].map(([a, b]) => `${a}–${b}`).join(", ");
  return el("figure", { class: "coupling" },
    svg("svg", { viewBox: `0 0 ${size} ${order ? 60 : size}`, role: "img", "aria-label": `Coupling map of ${name}: ${list}` },
      svg("title", {}, `Coupling map of ${name}`), parts),
    el("figcaption", {}, `${formatInt(pairs.size)} couplings: ${list}`));
}

/** The qubits in chain order when the couplings form one path through all of them, else null. */
function pathOrder(numQubits, pairs) {
  if (numQubits < 2 || numQubits > 12 || pairs.length !== numQubits - 1) return null;
  const neighbours = Array.from({ length: numQubits }, () => []);
  for (const [a, b] of pairs) {
    if (a >= numQubits || b >= numQubits) return null;
    neighbours[a].push(b);
    neighbours[b].push(a);
  }
  if (neighbours.some((list) => list.length > 2 || list.length === 0)) return null;
  const start = neighbours.findIndex((list) => list.length === 1);
  const order = [start];
  while (order.length < numQubits) {
    const next = neighbours[order[order.length - 1]].find((q) => !order.includes(q));
    if (next === undefined) return null;
    order.push(next);
  }
  return order;
}
