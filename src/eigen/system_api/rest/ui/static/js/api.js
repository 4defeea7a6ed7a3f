// The REST API of this server, the dashboard's only source of data.
//
// The credential (an API key or a bearer token) lives in this module's memory only: it is
// never written to localStorage, sessionStorage, a cookie or the URL, so it is gone when
// the tab closes or reloads. Every call sends it as `x-api-key` or `Authorization: Bearer`.

let credential = null; // {kind: "api-key" | "bearer", secret: string}
const unauthenticatedListeners = new Set();

export function setCredential(kind, secret) {
  credential = { kind, secret };
}

export function clearCredential() {
  credential = null;
}

export function credentialKind() {
  return credential ? credential.kind : null;
}

/** Called with the ApiError whenever the server answers 401. */
export function onUnauthenticated(listener) {
  unauthenticatedListeners.add(listener);
}

export class ApiError extends Error {
  constructor(status, problem) {
    const detail = (problem && (problem.detail || problem.title)) || `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.problem = problem || {};
    this.reason = this.problem.reason || "";
  }
}

function headersFor(extra) {
  const headers = { Accept: "application/json", ...extra };
  if (credential) {
    if (credential.kind === "api-key") headers["x-api-key"] = credential.secret;
    else headers.Authorization = `Bearer ${credential.secret}`;
  }
  return headers;
}

async function failure(response) {
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    problem = null;
  }
  const error = new ApiError(response.status, problem);
  if (response.status === 401) for (const listener of unauthenticatedListeners) listener(error);
  return error;
}

export async function call(method, path, { body, signal } = {}) {
  const init = {
    method,
    headers: headersFor(body === undefined ? {} : { "Content-Type": "application/json" }),
    credentials: "omit", // no cookies: the credential is the header above
    cache: "no-store",
    signal,
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

/** A file the API writes (e.g. Parquet results), as a Blob, sent with the credential. */
export async function fetchBlob(path, accept, signal) {
  const response = await fetch(path, {
    headers: headersFor({ Accept: accept }),
    credentials: "omit",
    cache: "no-store",
    signal,
  });
  if (!response.ok) throw await failure(response);
  return response.blob();
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((item) => search.append(key, item));
    else search.append(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const id = (jobId) => encodeURIComponent(jobId);
export const PROGRAM_SHOWN_BYTES = 65536; // the job page shows up to this much of a program

export const api = {
  listJobs: (params, signal) => call("GET", `../v1/jobs${query(params)}`, { signal }),
  getJob: (jobId, signal) => call("GET", `../v1/jobs/${id(jobId)}`, { signal }),
  results: (jobId, signal) => call("GET", `../v1/jobs/${id(jobId)}/results`, { signal }),
  resultsParquet: (jobId, signal) =>
    fetchBlob(`../v1/jobs/${id(jobId)}/results?format=parquet`, "application/vnd.apache.parquet", signal),
  program: (jobId, signal) => call("GET", `../v1/jobs/${id(jobId)}/program?max_bytes=${PROGRAM_SHOWN_BYTES}`, { signal }),
  cancel: (jobId) => call("POST", `../v1/jobs/${id(jobId)}:cancel`),
  submit: (job) => call("POST", "../v1/jobs", { body: { job } }),
  backends: (signal) => call("GET", "../v1/backends", { signal }),
  calibration: (name, signal) => call("GET", `../v1/backends/${encodeURIComponent(name)}/calibration`, { signal }),
};

/**
 * Follow a job's server-sent events (`GET /v1/jobs/{id}/events`) with fetch and a stream
 * reader, since EventSource cannot send the credential header. `onEvent({id, event, data})`
 * is called for each event; a stream that drops before the terminal event is resumed with
 * `after_seq` (the last event id seen). Resolves once the terminal event came or `signal`
 * aborts; rejects with an ApiError the server answered before streaming (404, 401).
 */
export async function watchEvents(jobId, onEvent, signal, afterSeq = 0) {
  let last = afterSeq;
  let retryMs = 500;
  while (!signal.aborted) {
    let response;
    try {
      response = await fetch(`../v1/jobs/${id(jobId)}/events?after_seq=${last}`, {
        headers: headersFor({ Accept: "text/event-stream" }),
        credentials: "omit",
        cache: "no-store",
        signal,
      });
    } catch (error) {
      if (signal.aborted) return;
      await pause(retryMs, signal);
      retryMs = Math.min(retryMs * 2, 8000);
      continue;
    }
    if (!response.ok) throw await failure(response);
    retryMs = 500;
    let ended = false;
    try {
      for await (const event of sseEvents(response.body)) {
        if (event.id) last = Number(event.id);
        if (event.event === "error") throw new ApiError(event.data.status || 500, event.data);
        onEvent(event);
        if (event.data && event.data.terminal) ended = true;
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError) throw error;
    }
    if (ended) return;
    await pause(retryMs, signal); // the server went away mid-stream: resume after `last`
  }
}

/**
 * Follow every job the credential may see (`GET /v1/jobs:events`): `onEvent({event, data})`
 * for each `created`, `state` and `resync` event (a stream opens with a resync: read the list
 * then). A stream that drops (the server restarting) is opened again after a pause, and its
 * first resync says to read the list again. Resolves when `signal` aborts; rejects with the
 * ApiError of an answer that will not change by retrying (401, 403, 501: a server without
 * the stream).
 */
export async function watchJobs(onEvent, signal) {
  let retryMs = 500;
  while (!signal.aborted) {
    let response = null;
    try {
      response = await fetch("../v1/jobs:events", {
        headers: headersFor({ Accept: "text/event-stream" }),
        credentials: "omit",
        cache: "no-store",
        signal,
      });
    } catch {
      response = null; // the network, or the server going away
    }
    if (signal.aborted) return;
    if (response && !response.ok && (response.status < 500 || response.status === 501)) throw await failure(response);
    if (response && response.ok) {
      retryMs = 500;
      try {
        for await (const event of sseEvents(response.body)) {
          if (event.event === "error") throw new ApiError(event.data.status || 500, event.data);
          onEvent(event);
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.status !== 500 && error.status !== 503) throw error;
      }
    }
    await pause(retryMs, signal);
    retryMs = Math.min(retryMs * 2, 8000);
  }
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** The events of a text/event-stream body: {id, event, data} with data parsed as JSON. */
export async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseBlock(block);
        if (event) yield event;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function parseBlock(block) {
  const event = { id: "", event: "message", data: null };
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "data") data.push(value);
    else if (name === "id") event.id = value;
    else if (name === "event") event.event = value;
  }
  if (!data.length) return null;
  try {
    event.data = JSON.parse(data.join("\n"));
  } catch {
    return null;
  }
  return event;
}
