// The dashboard's entry point: reads the views, shows the order board when
// the reference example's views are there, routes between board and view
// browser by the URL's hash, and keeps the header's connection state and
// freshness current.
import { get, onPulse, pulse, setToken } from "./api.js";
import { ago, seconds, el } from "./format.js";
import { Board } from "./board.js";
import { ViewBrowser } from "./browser.js";

const $ = (id) => document.getElementById(id);
const REFERENCE = ["order", "pending", "per_status", "revenue_per_day", "history"];

let board = null;
let browser = null;

function renderPulse() {
  const states = [...pulse.streams.values()];
  let state = "live", text = "live";
  if (pulse.failing || states.includes("retrying")) { state = "offline"; text = "reconnecting"; }
  else if (!states.length && !pulse.heardAt) { state = "connecting"; text = "connecting"; }
  else if (states.includes("connecting")) { state = "connecting"; text = "connecting"; }
  const conn = $("conn");
  if (conn.dataset.state !== state) conn.dataset.state = state;
  if ($("conn-text").textContent !== text) $("conn-text").textContent = text;
  const f = pulse.freshness;
  const fresh = pulse.heardAt ? `updated ${ago(performance.now() - pulse.heardAt)}` : "—";
  const stale = f && typeof f.staleness_seconds === "number" ? ` · source lag ${seconds(f.staleness_seconds)}` : "";
  $("fresh").textContent = fresh + stale;
}

function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#/, ""));
  const wantBoard = board && (hash === "" || hash === "board");
  $("board").hidden = !wantBoard;
  $("views").hidden = wantBoard;
  $("tab-board").setAttribute("aria-current", wantBoard ? "page" : "false");
  $("tab-views").setAttribute("aria-current", wantBoard ? "false" : "page");
  if (wantBoard) {
    if (browser) browser.stop();
    board.start();
  } else {
    if (board) board.stop();
    if (browser) browser.show(hash.startsWith("views/") ? hash.slice(6) : "");
  }
}

/** askToken shows a form for the server's bearer token and resolves once
 * one is given. */
function askToken(banner) {
  return new Promise((resolve) => {
    const input = el("input", { id: "token", type: "password", autocomplete: "off", required: true });
    const form = el("form", { class: "inline token" },
      el("label", { for: "token" }, "This server needs a bearer token:"), input, el("button", { type: "submit" }, "Use"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      setToken(input.value.trim());
      resolve();
    });
    banner.replaceChildren(form);
    input.focus();
  });
}

async function main() {
  onPulse(renderPulse);
  setInterval(renderPulse, 200);
  // Streams are quiet while nothing changes; the health answer's freshness
  // (progress records move it on an idle database) keeps "updated … ago"
  // and the source lag honest then.
  setInterval(() => {
    if (document.visibilityState === "visible" && performance.now() - pulse.heardAt > 2000) get("/v1/health").catch(() => {});
  }, 1000);
  let views;
  for (let wait = 1000; ; wait = Math.min(wait * 2, 10000)) {
    try {
      const body = await get("/v1/views");
      views = body.views || body;
      break;
    } catch (e) {
      const b = $("banner");
      b.hidden = false;
      if (e.status === 401) {
        await askToken(b);
        wait = 500;
        continue;
      }
      b.replaceChildren(el("strong", {}, "Cannot read the views. "), e.message, ` Retrying in ${wait / 1000} s.`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  $("banner").hidden = true;
  const names = new Set(views.map((v) => v.name));
  if (REFERENCE.every((n) => names.has(n))) {
    board = new Board();
    $("tab-board").hidden = false;
  }
  browser = new ViewBrowser(views);
  addEventListener("hashchange", route);
  route();
}

main();
