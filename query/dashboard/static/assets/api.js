// The query API client: JSON reads and live streams (Server-Sent Events),
// with one shared record of when the page last heard from the server and of
// the state of its streams.

/** ApiError is an error answer of the query API ({"error": {code, message}}). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || String(status);
  }
}

const listeners = new Set();

// A server with bearer tokens (query.tokens) takes the token as the
// access_token parameter too, which is the only way an EventSource can send
// it. The page keeps it for the browser tab's session only.
let token = sessionStorage.getItem("cdcflow.token") || "";

/** setToken sets the bearer token sent with every request ("" for none). */
export function setToken(t) {
  token = t;
  if (t) sessionStorage.setItem("cdcflow.token", t);
  else sessionStorage.removeItem("cdcflow.token");
}

function withToken(url) {
  if (!token) return url;
  return url + (url.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(token);
}

/** pulse is what the header shows: when the page last heard from the server,
 * the newest freshness seen, and the state of each stream. */
export const pulse = {
  heardAt: 0,          // performance.now() of the last answer or stream message
  freshness: null,     // the last freshness object received
  streams: new Map(),  // name → "connecting" | "live" | "retrying"
  failing: false,      // the last read failed (server or network)
};

/** onPulse registers fn, called whenever pulse changes. */
export function onPulse(fn) { listeners.add(fn); }

function notify() { for (const fn of listeners) fn(pulse); }

function heard(body) {
  pulse.heardAt = performance.now();
  pulse.failing = false;
  if (body && typeof body === "object" && body.freshness) pulse.freshness = body.freshness;
  notify();
}

/** path builds "/v1/…" with encoded segments and query parameters (empty
 * parameters are left out). */
export function path(segments, params) {
  let p = "/v1/" + segments.map(encodeURIComponent).join("/");
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const qs = q.toString();
  return qs ? `${p}?${qs}` : p;
}

/** get reads a JSON answer of the query API; a 404 answers null when
 * allowMissing is set; other errors throw ApiError. */
export async function get(url, { allowMissing = false, signal } = {}) {
  let res;
  try {
    res = await fetch(url, { headers: token ? { Accept: "application/json", Authorization: `Bearer ${token}` } : { Accept: "application/json" }, signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    pulse.failing = true;
    notify();
    throw new ApiError(0, "network", `cannot reach the server (${e.message})`);
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON: handled below */ }
  if (res.ok) {
    heard(body);
    return body;
  }
  if (res.status === 404 && allowMissing) {
    heard(null);
    return null;
  }
  if (res.status >= 500) { pulse.failing = true; notify(); }
  const err = body && body.error;
  throw new ApiError(res.status, err && err.code, err && err.message);
}

/** Live follows one Server-Sent Events stream of the query API. The browser
 * reconnects by itself after a dropped connection, sending the last event id
 * (Last-Event-ID), so the server resumes where the page left off; when the
 * server refuses the stream (EventSource gives up), Live opens it again after
 * a growing delay. handlers: {state, change, reset, message(name, data)}. */
export class Live {
  constructor(name, url, handlers) {
    this.name = name;
    this.url = url;
    this.handlers = handlers;
    this.retry = 1000;
    this.timer = 0;
    this.closed = false;
    this.open();
  }

  open() {
    this.set("connecting");
    // A stream the page opens again itself resumes where it was, as the
    // browser's own reconnection does with Last-Event-ID.
    let url = withToken(this.url);
    if (this.lastId) url += (url.includes("?") ? "&" : "?") + "last_event_id=" + encodeURIComponent(this.lastId);
    const es = new EventSource(url);
    this.es = es;
    es.onopen = () => { this.retry = 1000; this.set("live"); heard(null); };
    es.onerror = () => {
      if (this.closed) return;
      if (es.readyState === EventSource.CLOSED) {
        this.set("retrying");
        clearTimeout(this.timer);
        this.timer = setTimeout(() => { if (!this.closed) this.open(); }, this.retry);
        this.retry = Math.min(this.retry * 2, 15000);
      } else {
        this.set("connecting");
      }
    };
    for (const kind of ["state", "change", "reset", "event"]) {
      es.addEventListener(kind, (ev) => {
        if (ev.lastEventId) this.lastId = ev.lastEventId;
        let data = null;
        try { data = JSON.parse(ev.data); } catch { data = ev.data; }
        heard(data);
        const h = this.handlers[kind] || this.handlers.message;
        if (h) h(data, kind);
      });
    }
    es.onmessage = (ev) => {
      let data = null;
      try { data = JSON.parse(ev.data); } catch { data = ev.data; }
      heard(data);
      if (this.handlers.message) this.handlers.message(data, "message");
    };
  }

  set(state) {
    if (this.closed) return;
    pulse.streams.set(this.name, state);
    notify();
  }

  /** close stops the stream for good. */
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.es) this.es.close();
    pulse.streams.delete(this.name);
    notify();
  }
}

/** debounce calls fn at most once per wait ms, after the last call. */
export function debounce(fn, wait) {
  let t = 0;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), wait); };
}
