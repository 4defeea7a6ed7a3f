// Numbers, dates and durations for people (the viewer's locale and time zone), and a small
// element builder that never parses HTML (every text goes in as a text node).

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 7 });
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

export const TERMINAL = new Set(["DONE", "ERROR", "CANCELLED", "TIMEOUT"]);
export const STATES = ["PENDING", "COMPILING", "QUEUED", "RUNNING", "DONE", "ERROR", "CANCELLED", "TIMEOUT"];

export function formatInt(value) {
  return value === null || value === undefined || Number.isNaN(value) ? "–" : integer.format(value);
}

export function formatNumber(value) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
  const number = Number(value);
  if (number !== 0 && (Math.abs(number) < 1e-4 || Math.abs(number) >= 1e9)) return number.toExponential(3);
  return decimal.format(number);
}

export function formatPercent(value) {
  return percent.format(value);
}

/** An error rate: two significant digits, so 0.00031 is 0.031%, not 0%. */
export function formatRate(value) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
  return new Intl.NumberFormat(undefined, { style: "percent", maximumSignificantDigits: 2 }).format(value);
}

/** SI with a unit: 4.96 GHz, 131 µs. */
export function formatSi(value, unit) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
  const prefixes = [[1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""], [1e-3, "m"], [1e-6, "µ"], [1e-9, "n"]];
  const magnitude = Math.abs(value);
  for (const [scale, prefix] of prefixes) {
    if (magnitude >= scale || scale === 1e-9) {
      return `${new Intl.NumberFormat(undefined, { maximumSignificantDigits: 3 }).format(value / scale)} ${prefix}${unit}`;
    }
  }
  return `${value} ${unit}`;
}

export function parseTime(text) {
  if (!text) return null;
  const time = Date.parse(text);
  return Number.isNaN(time) ? null : time;
}

export function formatDate(text) {
  const time = parseTime(text);
  return time === null ? "–" : dateTime.format(time);
}

export function formatClock(text) {
  const time = parseTime(text);
  return time === null ? "–" : timeOnly.format(time);
}

/** 850 ms, 12.3 s, 4 min 5 s, 2 h 3 min, 3 d 4 h. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  if (seconds < 0) seconds = 0;
  if (seconds < 1) return `${integer.format(Math.round(seconds * 1000))} ms`;
  if (seconds < 60) return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${minutes % 60} min`;
  return `${integer.format(Math.floor(hours / 24))} d ${hours % 24} h`;
}

/** Seconds between two RFC 3339 times (the second defaults to now). */
export function secondsBetween(start, end) {
  const from = parseTime(start);
  if (from === null) return null;
  const to = end ? parseTime(end) : Date.now();
  return to === null ? null : (to - from) / 1000;
}

export function shortId(jobId) {
  return jobId.slice(0, 8);
}

/** el("td", {class: "x", dataset: {y: 1}, onclick: fn}, "text", child...) */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value; // CSSOM: allowed by the page's CSP
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null) continue;
    node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function stateBadge(state) {
  return el("span", { class: `state state-${state.toLowerCase()}` }, state);
}

/** Say something to screen readers (the polite live region). */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (region) region.textContent = text;
}

export function problemText(error) {
  if (!error) return "";
  const reason = error.reason ? ` (${error.reason})` : "";
  return `${error.message}${reason}`;
}

/** Where the job waits on a queue: the job view's `placement` (or a `queue` object), else null. */
export function placementOf(job) {
  const found = job.placement || job.queue;
  return found && typeof found === "object" ? found : null;
}
