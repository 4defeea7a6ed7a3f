// The dashboard's shell: hash routes (#/jobs, #/jobs/ID, #/queue, #/backends), the sign-in
// form of a server that requires authentication (a key or token, or the OpenID Connect
// provider the server names: oidc.js), and the session bar.

import { api, ApiError, clearCredential, credentialKind, onUnauthenticated, setCredential } from "./api.js";
import { announce, el, problemText } from "./format.js";
import { handBack, isCallback, loadConfig, signIn } from "./oidc.js";
import { renderBackends } from "./pages/backends.js";
import { renderJob } from "./pages/job.js";
import { renderJobs } from "./pages/jobs.js";
import { renderQueue } from "./pages/queue.js";

const main = document.getElementById("main");
let current = null; // the AbortController of the page on screen
let signedOutMessage = "";
let needsSignIn = false;
let signingIn = false; // a 401 then is the form's to word, not a sign-out
let signedInWith = ""; // the identity provider's issuer, when signed in through it
const provider = loadConfig().catch(() => null); // the server's OpenID Connect provider, or null

function parseRoute() {
  const hash = decodeURIComponent(location.hash.replace(/^#/, "")) || "/jobs";
  const [path, search = ""] = hash.split("?");
  const parts = path.split("/").filter(Boolean);
  return { parts, params: new URLSearchParams(search) };
}

function markNav(section) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function updateSession() {
  const kind = credentialKind();
  const box = document.getElementById("session");
  box.hidden = !kind;
  document.getElementById("session-label").textContent =
    kind === "api-key" ? "Signed in with an API key"
      : kind === "bearer" && signedInWith ? `Signed in through ${signedInWith}`
        : kind === "bearer" ? "Signed in with a bearer token" : "";
}

async function route() {
  if (current) current.abort();
  current = new AbortController();
  const { signal } = current;
  if (needsSignIn) {
    markNav("");
    showSignIn();
    return;
  }
  const { parts, params } = parseRoute();
  const section = parts[0] || "jobs";
  markNav(section);
  main.replaceChildren();
  try {
    if (section === "jobs" && parts[1]) await renderJob(main, parts[1], signal);
    else if (section === "jobs") await renderJobs(main, params, signal);
    else if (section === "backends") await renderBackends(main, signal);
    else if (section === "queue") await renderQueue(main, signal);
    else {
      main.append(el("h1", { tabindex: "-1" }, "Not found"), el("p", {}, el("a", { href: "#/jobs" }, "Go to the jobs")));
    }
  } catch (error) {
    if (signal.aborted) return;
    if (error instanceof ApiError && error.status === 401) return; // the sign-in form took over
    main.append(el("div", { class: "error", role: "alert" }, `Could not load this page: ${problemText(error)}`));
  }
  const heading = main.querySelector("h1");
  if (heading && document.activeElement !== document.body && !main.contains(document.activeElement)) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

function showSignIn() {
  main.replaceChildren();
  const kind = el("select", { id: "credential-kind", name: "kind" },
    el("option", { value: "api-key" }, "API key"),
    el("option", { value: "bearer" }, "Bearer token (JWT)"));
  const secret = el("input", { id: "credential", name: "credential", type: "password", required: true,
    autocomplete: "off", spellcheck: "false", "aria-describedby": "credential-help" });
  const message = el("p", { id: "sign-in-message", class: signedOutMessage ? "error" : "", role: "alert" }, signedOutMessage);
  const submit = el("button", { type: "submit" }, "Sign in");
  const form = el("form", { class: "sign-in", "aria-labelledby": "sign-in-title" },
    el("h1", { id: "sign-in-title" }, "Sign in"),
    el("p", {}, "This server requires authentication. Give an API key (from ",
      el("code", {}, "eigen-server keys create"), ") or a bearer token of your identity provider."),
    el("div", { class: "field" }, el("label", { for: "credential-kind" }, "Credential"), kind),
    el("div", { class: "field" }, el("label", { for: "credential" }, "Key or token"), secret),
    el("p", { id: "credential-help", class: "muted" },
      "Kept in this page's memory only (never stored in the browser): reloading or closing the tab signs you out."),
    message, submit);
  // Try a credential (one list read): on screen the page it opens, or the form says why not.
  async function tryCredential(credentialKindName, value, via, refused) {
    message.className = "";
    setCredential(credentialKindName, value);
    signingIn = true;
    try {
      await api.listJobs({ page_size: 1 });
      signingIn = false;
      signedInWith = via;
      needsSignIn = false;
      signedOutMessage = "";
      updateSession();
      announce("Signed in");
      await route();
      return true;
    } catch (error) {
      signingIn = false;
      clearCredential();
      needsSignIn = true;
      message.className = "error";
      message.textContent = error instanceof ApiError && error.status === 401
        ? refused
        : `Could not sign in: ${problemText(error)}`;
      return false;
    }
  }
  provider.then((oidc) => {
    if (!oidc || !form.isConnected) return;
    const through = el("button", { type: "button", id: "oidc-sign-in" }, "Sign in with your identity provider");
    through.addEventListener("click", async () => {
      message.className = "";
      message.textContent = "Signing in with the identity provider in its window…";
      let token;
      try {
        token = await signIn(oidc);
      } catch (error) {
        message.className = "error";
        message.textContent = `Could not sign in: ${problemText(error)}`;
        return;
      }
      await tryCredential("bearer", token, oidc.issuer, "The server did not accept the identity provider's token.");
    });
    form.insertBefore(el("div", { class: "field" }, through,
      el("p", { class: "muted" }, `Provider: ${oidc.issuer}. Or give a key or token below.`)), form.children[2]);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    message.textContent = "Checking…";
    if (await tryCredential(kind.value, secret.value.trim(), "", "The server did not accept this credential.")) {
      secret.value = "";
    } else {
      submit.disabled = false;
      secret.focus();
    }
  });
  main.append(form);
  secret.focus();
}

onUnauthenticated(() => {
  if (signingIn) return;
  const hadCredential = credentialKind() !== null;
  clearCredential();
  updateSession();
  if (current) current.abort();
  needsSignIn = true;
  signedOutMessage = hadCredential ? "The server no longer accepts your credential: sign in again." : "";
  showSignIn();
});

document.getElementById("sign-out").addEventListener("click", () => {
  clearCredential();
  signedInWith = "";
  updateSession();
  needsSignIn = true;
  signedOutMessage = "";
  if (current) current.abort();
  showSignIn();
  announce("Signed out");
});

window.addEventListener("hashchange", route);

// The first page's own request tells whether the server requires a credential (a 401 brings
// the sign-in form), so a page shows after one round trip either way. In the identity
// provider's window, back with its answer: hand it to the dashboard that opened the window.
if (!isCallback()) {
  route();
} else if (handBack()) {
  main.replaceChildren(el("p", { role: "status" }, "Signed in: this window closes."));
} else {
  needsSignIn = true;
  signedOutMessage = "This window did not start a sign-in: sign in from the dashboard.";
  route();
}
