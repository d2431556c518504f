//# allFunctionsCalledOnLoad
// Where the page asks for its data: the collector's /v1 routes when the collector serves the
// page, the plugin's endpoint routes when Dify does. The secret comes from the URL fragment
// (never sent to a server) and travels as a header on data requests only.
"use strict";

const onEndpoint = /\/dashboard\/?$/.test(location.pathname);

export const server = onEndpoint ? "endpoint" : "collector";

// The page's base URL: every route is relative, so the page also works under /e/<hook_id>/.
export const base = new URL(onEndpoint ? location.pathname.replace(/dashboard\/?$/, "") : "./", location.href);

export const routes = onEndpoint
  ? {
      snapshot: "status",
      history: "history",
      alerts: "alerts",
      usage: "usage",
      advice: "advice",
      vramCheck: "vram-check",
      secretName: "key",
    }
  : {
      snapshot: "v1/snapshot",
      history: "v1/history",
      alerts: "v1/alerts",
      usage: "v1/usage",
      advice: "v1/advice",
      vramCheck: "v1/vram-check",
      secretName: "token",
    };

export function readSecret() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  return fragment.get(routes.secretName) ?? fragment.get(onEndpoint ? "token" : "key") ?? "";
}

let secret = readSecret();

export function rereadSecret() {
  secret = readSecret();
}

function authHeaders() {
  if (!secret) return {};
  return onEndpoint ? { "X-Api-Key": secret } : { Authorization: `Bearer ${secret}` };
}

// Why a request failed: `kind` is network, auth or http; `code` the answer's error code and
// `detail` its sentence (both from the server, when it sent them).
export class RequestError extends Error {
  constructor(kind, status, code, detail) {
    super(detail ?? code ?? kind);
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export async function request(path, init = {}) {
  let response;
  try {
    response = await fetch(new URL(path, base), {
      ...init,
      cache: "no-store",
      credentials: "omit",
      headers: { Accept: "application/json", ...authHeaders(), ...(init.headers ?? {}) },
    });
  } catch {
    throw new RequestError("network", 0, null, null);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    // Collector and endpoint answer errors as {"error": code, "message": sentence}.
    const code = body && typeof body.error === "string" ? body.error : null;
    const detail = body && typeof body.message === "string" ? body.message : null;
    const kind = response.status === 401 || response.status === 403 ? "auth" : "http";
    throw new RequestError(kind, response.status, code, detail);
  }
  return body;
}

export function query(params) {
  const pairs = Object.entries(params).filter(([, value]) => value !== null && value !== undefined);
  return pairs.length ? `?${new URLSearchParams(pairs)}` : "";
}
