// The order board of the reference example: pending orders, an order with
// its coordination history, counts per status, revenue per day, the latest
// events and pipeline health, kept live over Server-Sent Events.
import { el, when, dayLabel, share, maxDecimal, act, statusOrder, statusVar, seconds, fieldText } from "./format.js";
import { get, path, Live, debounce, ApiError } from "./api.js";

const $ = (id) => document.getElementById(id);
const PAGE = 12;
const DAYS = 10;
const EVENTS = 25;

/** Board is the order board; start opens its streams, stop closes them. */
export class Board {
  constructor() {
    this.streams = [];
    this.pendingLimit = PAGE;
    this.pendingCursor = null;
    this.selected = null;
    this.seenPending = new Set();
    this.events = [];
    this.refreshPending = debounce(() => this.loadPending(), 150);
    this.refreshStatuses = debounce(() => this.loadStatuses(), 150);
    this.refreshRevenue = debounce(() => this.loadRevenue(), 150);
    this.refreshOrder = debounce(() => this.loadOrder(), 150);
    this.refreshHealth = debounce(() => this.loadHealth(), 300);
    $("pending-more").addEventListener("click", () => this.morePending());
    $("order-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const id = $("order-id").value.trim();
      if (id) this.select(id);
    });
  }

  start() {
    if (this.streams.length) return;
    this.loadStatuses();
    this.loadPending();
    this.loadRevenue();
    this.loadHealth();
    if (this.selected) this.loadOrder();
    const any = () => { this.refreshOrder(); this.refreshHealth(); };
    this.streams = [
      new Live("pending", path(["views", "pending", "stream"]), { change: () => { this.refreshPending(); any(); }, reset: () => this.refreshPending(), state: () => this.refreshPending() }),
      new Live("per_status", path(["views", "per_status", "stream"]), { change: () => { this.refreshStatuses(); any(); }, reset: () => this.refreshStatuses(), state: () => this.refreshStatuses() }),
      new Live("revenue_per_day", path(["views", "revenue_per_day", "stream"]), { change: () => this.refreshRevenue(), reset: () => this.refreshRevenue(), state: () => this.refreshRevenue() }),
      new Live("events", path(["events", "stream"], { limit: EVENTS }), {
        state: (e) => { this.events = []; this.addEvent(e); },
        event: (e) => this.addEvent(e),
        reset: () => { this.events = []; this.renderEvents(); },
      }),
    ];
    this.healthTimer = setInterval(() => this.loadHealth(), 2000);
  }

  stop() {
    for (const s of this.streams) s.close();
    this.streams = [];
    clearInterval(this.healthTimer);
  }

  failed(where, err) {
    if (err && err.name === "AbortError") return;
    const target = $(where);
    target.replaceChildren(el("p", { class: "error" }, err instanceof ApiError ? err.message : String(err)));
  }

  async loadStatuses() {
    try {
      const body = await get(path(["views", "per_status", "groups"], { by: "count", limit: 50 }));
      const groups = body.groups || [];
      groups.sort((a, b) => rank(a.key) - rank(b.key) || String(a.key).localeCompare(String(b.key)));
      let total = 0;
      const items = groups.map((g) => {
        total += Number(g.count) || 0;
        return el("li", { style: { "--st": statusVar(g.key) }, "data-status": g.key },
          el("span", { class: "n" }, String(g.count)), el("span", { class: "k" }, g.key));
      });
      $("statuses").replaceChildren(...(items.length ? items : [el("li", {}, el("span", { class: "k" }, "no orders yet"))]));
      $("statuses-meta").textContent = `${total} orders`;
    } catch (e) { this.failed("statuses", e); }
  }

  async loadPending() {
    try {
      const body = await get(path(["views", "pending", "index"], { limit: this.pendingLimit }));
      const items = body.items || [];
      const orders = await Promise.all(items.map((it) =>
        get(path(["views", "order", "entities", it.id]), { allowMissing: true }).catch(() => null)));
      const first = this.seenPending.size === 0;
      const rows = items.map((it, i) => {
        const f = (orders[i] && orders[i].fields) || {};
        const isNew = !first && !this.seenPending.has(it.id);
        this.seenPending.add(it.id);
        const open = () => this.select(it.id);
        return el("tr", { class: isNew ? "pick new" : "pick", "data-id": it.id, onclick: open },
          el("td", {}, el("button", { type: "button", class: "link mono", onclick: (e) => { e.stopPropagation(); open(); }, "aria-label": `Show order ${it.id}` }, `#${it.id}`)),
          el("td", { class: "mono opt" }, fieldText(f.customer_id)),
          el("td", { class: "num" }, money(f.total, f.currency)),
          el("td", { title: fieldText(f.ordered_at) }, when(f.ordered_at)));
      });
      const tbody = $("pending").tBodies[0];
      tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 4, class: "empty" }, "Nothing pending. Everything is on its way."))]));
      this.pendingCursor = body.next_cursor || null;
      $("pending-more").hidden = !this.pendingCursor;
      $("pending-meta").textContent = rows.length ? `showing ${rows.length}${this.pendingCursor ? "+" : ""}` : "";
      // With nothing picked yet, show the oldest pending order, so the
      // board opens with an order and its history rather than a blank card.
      if (!this.selected && items.length) this.select(items[0].id);
    } catch (e) { this.failed("pending-meta", e); }
  }

  morePending() {
    this.pendingLimit = Math.min(this.pendingLimit + PAGE, 100);
    this.loadPending();
  }

  select(id) {
    this.selected = String(id);
    $("order-id").value = this.selected;
    this.loadOrder();
  }

  async loadOrder() {
    const id = this.selected;
    if (!id) return;
    try {
      const [entity, hist] = await Promise.all([
        get(path(["views", "order", "entities", id]), { allowMissing: true }),
        get(path(["views", "history", "history", id], { limit: 50 }), { allowMissing: true }),
      ]);
      if (id !== this.selected) return;
      const box = $("order-detail");
      if (!entity && !hist) {
        box.replaceChildren(el("p", { class: "empty" }, `No order ${id} in the views.`));
        return;
      }
      const f = (entity && entity.fields) || {};
      const status = fieldText(f.status ?? "deleted");
      const facts = el("dl", { class: "facts" },
        el("dt", {}, "Customer"), el("dd", { class: "mono" }, fieldText(f.customer_id)),
        el("dt", {}, "Total"), el("dd", {}, money(f.total, f.currency)),
        el("dt", {}, "Ordered"), el("dd", {}, when(f.ordered_at)),
        el("dt", {}, "Updated"), el("dd", {}, when(f.updated_at)));
      const events = eventsOf(hist);
      const steps = events.map((ev) => {
        const a = act(ev.type, "order");
        return el("li", { style: { "--st": statusVar(a) }, "data-type": ev.type },
          el("span", { class: "act" }, a), el("span", { class: "when" }, when(ev.time)),
          detail(ev) ? el("div", { class: "detail" }, detail(ev)) : null);
      });
      box.replaceChildren(
        el("div", { class: "head" }, el("strong", { class: "mono" }, `#${id}`),
          el("span", { class: "badge", style: { "--st": statusVar(status) }, id: "order-status" }, status)),
        facts,
        el("h4", { class: "visually-hidden" }, "Coordination history"),
        steps.length ? el("ol", { class: "timeline", id: "timeline", "aria-label": "Coordination history" }, steps)
          : el("p", { class: "empty" }, "No history kept for this order."));
    } catch (e) { this.failed("order-detail", e); }
  }

  async loadRevenue() {
    try {
      const body = await get(path(["views", "revenue_per_day", "groups"], { by: "count", limit: 100 }));
      const groups = (body.groups || []).filter((g) => g.sums && g.sums.revenue !== undefined);
      groups.sort((a, b) => String(b.key).localeCompare(String(a.key)));
      const days = groups.slice(0, DAYS);
      const max = maxDecimal(days.map((g) => g.sums.revenue));
      const items = days.map((g) => el("li", { "data-day": g.key },
        el("span", { class: "day" }, dayLabel(g.key)),
        el("span", { class: "track", "aria-hidden": "true" }, el("span", { class: "fill", style: { width: `${(share(g.sums.revenue, max) * 100).toFixed(1)}%` } })),
        el("span", { class: "amt" }, `€ ${g.sums.revenue}`, el("span", { class: "cnt" }, `${g.count}×`))));
      $("revenue").replaceChildren(...(items.length ? items : [el("li", {}, el("span", { class: "empty" }, "No accepted orders yet."))]));
    } catch (e) { this.failed("revenue", e); }
  }

  addEvent(e) {
    if (!e || typeof e !== "object") return;
    const list = Array.isArray(e) ? e : Array.isArray(e.events) ? e.events : [e];
    for (const ev of list) {
      if (!ev || !ev.type) continue;
      const key = ev.id || `${ev.position}|${ev.type}`;
      if (this.events.some((x) => x.key === key)) continue;
      this.events.unshift({ key, ev, fresh: true });
    }
    this.events = this.events.slice(0, EVENTS);
    this.renderEvents();
    this.refreshOrderIf(list);
  }

  refreshOrderIf(list) {
    if (this.selected && list.some((ev) => ev && String(aggregateId(ev)) === this.selected)) this.refreshOrder();
  }

  renderEvents() {
    const items = this.events.map((x) => {
      const ev = x.ev;
      const agg = aggregateType(ev);
      const a = act(ev.type, agg);
      const li = el("li", { class: x.fresh ? "new" : "", "data-type": ev.type },
        el("span", { class: "type" }, el("span", { class: "dotc", style: { "--st": statusVar(a) }, "aria-hidden": "true" }), " ", ev.type),
        el("span", { class: "agg mono" }, agg ? `${agg} ${aggregateId(ev)}` : String(aggregateId(ev) ?? "")),
        el("span", { class: "time" }, when(ev.time)));
      x.fresh = false;
      return li;
    });
    $("events").replaceChildren(...(items.length ? items : [el("li", {}, el("span", { class: "empty" }, "Waiting for events…"))]));
    $("events-meta").textContent = this.events.length ? `newest first · ${this.events.length}` : "";
  }

  async loadHealth() {
    try {
      const h = await get("/v1/health");
      renderHealth(h);
    } catch (e) { this.failed("health", e); }
  }
}

function rank(status) {
  const i = statusOrder.indexOf(String(status));
  return i < 0 ? statusOrder.length : i;
}

function money(total, currency) {
  if (total === undefined || total === null) return "—";
  return currency ? `${fieldText(total)} ${fieldText(currency)}` : fieldText(total);
}

/** eventsOf returns the list of events of a history answer. */
function eventsOf(hist) {
  if (!hist) return [];
  if (Array.isArray(hist)) return hist;
  return hist.events || hist.items || [];
}

function aggregateType(ev) { return ev.aggregatetype ?? ev.aggregate_type ?? ev.aggregate ?? ""; }
function aggregateId(ev) { return ev.aggregateid ?? ev.aggregate_id ?? ev.subject ?? (ev.data && ev.data.order_id); }

/** detail is the line under a timeline step. */
function detail(ev) {
  const d = ev.data || {};
  const parts = [];
  if (d.total !== undefined) parts.push(money(d.total, d.currency));
  if (Array.isArray(d.lines) && d.lines.length) parts.push(`${d.lines.length} line${d.lines.length === 1 ? "" : "s"}`);
  if (d.line_no !== undefined) parts.push(`line ${d.line_no}`);
  if (d.amount !== undefined) parts.push(`amount ${fieldText(d.amount)}`);
  return parts.join(" · ");
}

function level(s) { return typeof s !== "number" ? "" : s > 30 ? "bad" : s > 5 ? "warn" : "ok"; }

/** renderHealth draws /v1/health: one card per stage, then the partitions
 * of the views with their applied position and staleness. */
function renderHealth(h) {
  const box = $("health");
  const stages = Array.isArray(h.stages) ? h.stages : [];
  const cards = stages.map((s) => el("div", { class: "stage", "data-level": level(s.staleness_seconds ?? s.lag_seconds) },
    el("div", { class: "name" }, s.name || s.stage || "stage"),
    el("div", { class: "val" }, stageValue(s)),
    el("div", { class: "note" }, s.note || s.detail || s.message || "")));
  const fr = h.freshness || (h.views && h.views.freshness) || {};
  const parts = (fr.partitions || []).map((p) => el("span", { class: "part" },
    el("b", {}, `p${p.partition}`), ` · ${p.applied_lsn || "—"} · `,
    p.staleness_seconds !== undefined ? `${seconds(p.staleness_seconds)} behind` : when(p.commit_time)));
  box.replaceChildren(
    cards.length ? el("div", { class: "stages" }, cards) : null,
    parts.length ? el("div", { class: "parts", "aria-label": "View partitions" }, parts) : null);
  if (!cards.length && !parts.length) box.replaceChildren(el("pre", {}, JSON.stringify(h, null, 2)));
  $("health-meta").textContent = fr.generation !== undefined ? `views generation ${fr.generation} · staleness ${seconds(fr.staleness_seconds)}` : "";
}

function stageValue(s) {
  if (s.lag_bytes !== undefined) return bytes(s.lag_bytes);
  if (s.lag_records !== undefined) return `${s.lag_records} records`;
  if (s.lag_seconds !== undefined) return seconds(s.lag_seconds);
  if (s.staleness_seconds !== undefined) return seconds(s.staleness_seconds);
  if (s.lag !== undefined) return String(s.lag);
  return s.status || "—";
}

function bytes(n) {
  n = Number(n);
  if (!Number.isFinite(n)) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}
