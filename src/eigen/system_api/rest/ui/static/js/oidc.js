// Signing in with an OpenID Connect provider: the authorization code flow with PKCE
// (RFC 7636, S256), run by the page itself as a public client (no client secret). The
// server names the provider in config.json (settings oidc_*); its tokens are checked by
// the API like any bearer token (settings jwt_*).
//
// The provider's pages open in a window of their own, which comes back to /ui/ with the
// code; that window hands the code to this page (postMessage, this origin only) and
// closes. So the PKCE verifier, the state and the token live in this page's memory only:
// nothing is written to the browser's storage, and the page keeps its place.

const MESSAGE = "eigen-oidc-callback";
let pending = null; // the sign-in under way: {oidc, meta, verifier, state, resolve, reject}

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
}

function redirectUri() {
  return `${location.origin}${location.pathname}`; // the dashboard's /ui/, without query or route
}

async function discovery(oidc) {
  const answer = await fetch(`${oidc.issuer}/.well-known/openid-configuration`, { credentials: "omit" });
  if (!answer.ok) throw new Error(`the identity provider's discovery answered ${answer.status}`);
  return answer.json();
}

// The provider the server names (null: none), from /ui/config.json.
export async function loadConfig() {
  const answer = await fetch("config.json", { credentials: "omit" });
  if (!answer.ok) return null;
  const config = await answer.json();
  return config.oidc || null;
}

// Whether this page is the provider's redirect back (a code or an error in its query).
export function isCallback() {
  const params = new URLSearchParams(location.search);
  return params.has("state") && (params.has("code") || params.has("error"));
}

// In the sign-in window, back from the provider: hand the answer to the page that opened
// it and close. False when no page of this origin opened it (then nobody asked).
export function handBack() {
  const search = location.search;
  history.replaceState(null, "", redirectUri()); // the code leaves the address bar
  let opener = null;
  try {
    opener = window.opener && window.opener.location.origin === location.origin ? window.opener : null;
  } catch {
    opener = null; // another origin's window
  }
  if (!opener) return false;
  opener.postMessage({ type: MESSAGE, search }, location.origin);
  window.close();
  return true;
}

async function exchange(params) {
  const { oidc, meta, verifier } = pending;
  if (params.has("error")) {
    throw new Error(`the identity provider refused: ${params.get("error_description") || params.get("error")}`);
  }
  const body = new URLSearchParams({
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: redirectUri(),
    client_id: oidc.client_id,
    code_verifier: verifier,
  });
  const answer = await fetch(meta.token_endpoint, {
    method: "POST",
    credentials: "omit",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  const tokens = await answer.json().catch(() => ({}));
  if (!answer.ok || !tokens.access_token) {
    const why = tokens.error_description || tokens.error || `status ${answer.status}`;
    throw new Error(`the identity provider issued no token: ${why}`);
  }
  return tokens.access_token;
}

window.addEventListener("message", (event) => {
  if (event.origin !== location.origin || event.data?.type !== MESSAGE || !pending) return;
  const params = new URLSearchParams(event.data.search);
  if (params.get("state") !== pending.state) return; // not the answer to this sign-in
  const { resolve, reject } = pending;
  exchange(params).then(resolve, reject).finally(() => {
    pending = null;
  });
});

// Sign in through the provider: its pages in a window of their own; the access token once
// it answered (a new call replaces a sign-in under way, whose promise then never settles).
// Throws an Error saying why not.
export async function signIn(oidc) {
  const meta = await discovery(oidc);
  const verifier = randomText(32);
  const state = randomText(16);
  const target = new URL(meta.authorization_endpoint);
  target.search = new URLSearchParams({
    response_type: "code",
    client_id: oidc.client_id,
    redirect_uri: redirectUri(),
    scope: oidc.scopes || "openid",
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  }).toString();
  const answered = new Promise((resolve, reject) => {
    pending = { oidc, meta, verifier, state, resolve, reject };
  });
  const opened = window.open(target.toString(), "eigen-sign-in", "popup,width=520,height=680");
  if (!opened) {
    pending = null;
    throw new Error("the browser blocked the sign-in window: allow pop-ups for this page");
  }
  return answered;
}
