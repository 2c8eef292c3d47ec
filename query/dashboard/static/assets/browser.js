// The generic view browser: every view of GET /v1/views, with a form per kind
// (entity by id, index page with its cursor, aggregate top groups, history
// of an id), refreshed live while the view's stream reports changes.
import { el, when, fieldText } from "./format.js";
import { get, path, Live, debounce, ApiError } from "./api.js";

const $ = (id) => document.getElementById(id);

/** Browser is the view browser; show(name) opens a view, stop closes its stream. */
export class ViewBrowser {
  constructor(views) {
    this.views = views;
    this.current = null;
    this.live = null;
    this.query = null; // the last query, rerun on a change
    this.refresh = debounce(() => { if (this.query) this.run(this.query, true); }, 200);
    $("view-list").replaceChildren(...views.map((v) => el("li", {},
      el("a", { href: `#views/${encodeURIComponent(v.name)}`, "data-view": v.name, title: v.name },
        el("strong", {}, v.name), el("span", { class: "kind" }, `${v.kind}${v.partitions ? ` · ${v.partitions} partitions` : ""}`)))));
    $("views-meta").textContent = `${views.length} views${views[0] && views[0].generation !== undefined ? ` · generation ${views[0].generation}` : ""}`;
  }

  stop() {
    if (this.live) this.live.close();
    this.live = null;
  }

  show(name) {
    const v = this.views.find((x) => x.name === name);
    for (const a of $("view-list").querySelectorAll("a")) a.setAttribute("aria-current", a.dataset.view === name ? "true" : "false");
    if (!v) { $("view-card").hidden = true; this.stop(); return; }
    if (this.current !== v) {
      this.stop();
      this.current = v;
      this.query = null;
      $("view-result").replaceChildren();
    }
    $("view-card").hidden = false;
    $("view-title").textContent = v.name;
    $("view-meta").textContent = v.kind;
    $("view-def").textContent = summary(v);
    this.form(v);
    if (v.kind === "index" || v.kind === "aggregate") this.query = this.query || { v, params: {} };
    if (this.query) this.run(this.query, true);
  }

  form(v) {
    const f = $("view-form");
    const field = (name, label, attrs = {}) => el("label", {}, label, el("input", { name, id: `q-${name}`, autocomplete: "off", ...attrs }));
    const controls = [];
    if (v.kind === "entity" || v.kind === "history") controls.push(field("id", "Id", { required: true, placeholder: "e.g. 42" }));
    if (v.kind === "index") {
      controls.push(field("key", "Key", { placeholder: "(none)" }), field("min", "Min score"), field("max", "Max score"),
        el("label", {}, "Order", el("select", { name: "order", id: "q-order" }, el("option", { value: "" }, "ascending"), el("option", { value: "desc" }, "descending"))));
    }
    if (v.kind === "aggregate") {
      const sums = sumNames(v);
      controls.push(el("label", {}, "Top by", el("select", { name: "by", id: "q-by" }, el("option", { value: "count" }, "count"), sums.map((s) => el("option", { value: s }, `sum ${s}`)))));
    }
    if (v.kind !== "entity") controls.push(field("limit", "Limit", { type: "number", min: 1, max: 1000, value: v.kind === "history" ? 50 : 20 }));
    controls.push(el("button", { type: "submit" }, v.kind === "entity" || v.kind === "history" ? "Look up" : "Show"));
    f.replaceChildren(...controls);
    f.onsubmit = (e) => {
      e.preventDefault();
      const params = Object.fromEntries(new FormData(f).entries());
      this.run({ v, params }, false);
    };
  }

  async run(q, quiet) {
    const { v, params } = q;
    this.query = q;
    const out = $("view-result");
    try {
      let body;
      switch (v.kind) {
        case "entity":
          if (!params.id) return;
          body = await get(path(["views", v.name, "entities", params.id]), { allowMissing: true });
          out.replaceChildren(body ? fieldsTable(body.fields || {}) : el("p", { class: "empty" }, `No ${v.name} ${params.id}.`));
          this.follow(v, { id: params.id });
          break;
        case "history":
          if (!params.id) return;
          body = await get(path(["views", v.name, "history", params.id], { limit: params.limit }), { allowMissing: true });
          out.replaceChildren(historyList(body));
          this.follow(v, { id: params.id });
          break;
        case "index": {
          const { cursor, ...rest } = params;
          body = await get(path(["views", v.name, "index"], { ...rest, cursor }));
          out.replaceChildren(indexTable(body, (next) => this.run({ v, params: { ...rest, cursor: next } }, false)));
          this.follow(v, params.key ? { key: params.key } : {});
          break;
        }
        case "aggregate":
          body = await get(path(["views", v.name, "groups"], { by: params.by || "count", limit: params.limit || 20 }));
          out.replaceChildren(groupsTable(body, sumNames(v)));
          this.follow(v, {});
          break;
        default:
          out.replaceChildren(el("p", { class: "empty" }, `No browser for views of kind ${v.kind}.`));
      }
    } catch (e) {
      if (quiet && e instanceof ApiError && e.status === 0) return;
      out.replaceChildren(el("p", { class: "error", role: "alert" }, e.message));
    }
  }

  /** follow keeps one stream open on the shown view, refreshing the result on changes. */
  follow(v, params) {
    const url = path(["views", v.name, "stream"], params);
    if (this.live && this.live.url === url) return;
    this.stop();
    const again = () => this.refresh();
    this.live = new Live(`view ${v.name}`, url, { change: again, reset: again });
  }
}

function sumNames(v) {
  const d = v.definition || {};
  const sums = d.sums || v.sums || [];
  return sums.map((s) => (typeof s === "string" ? s : s.name)).filter(Boolean);
}

/** summary renders a view's definition as "entity: order · sums: revenue (scale 2)". */
function summary(v) {
  const d = v.definition;
  if (!d) return "";
  if (typeof d === "string") return d;
  const parts = [];
  for (const [k, x] of Object.entries(d)) {
    const name = k.replace(/_/g, " ");
    if (x === true) parts.push(name);
    else if (x === false || x === null || x === undefined || x === "") continue;
    else if (Array.isArray(x)) {
      if (!x.length) continue;
      parts.push(`${name}: ${x.map((e) => (typeof e === "object" && e ? e.name + (e.scale !== undefined ? ` (scale ${e.scale})` : "") + (e.day ? " (day)" : "") : String(e))).join(", ")}`);
    } else if (typeof x === "object") parts.push(`${name}: ${JSON.stringify(x)}`);
    else parts.push(`${name}: ${x}`);
  }
  return parts.join(" · ");
}

function fieldsTable(fields) {
  const names = Object.keys(fields).sort();
  return el("div", { class: "scroll" }, el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col", style: { width: "35%" } }, "Field"), el("th", { scope: "col" }, "Value"))),
    el("tbody", {}, names.map((n) => el("tr", {}, el("td", { class: "mono" }, n), el("td", {}, fieldText(fields[n])))))));
}

function indexTable(body, more) {
  const items = body.items || [];
  return el("div", {},
    el("div", { class: "scroll" }, el("table", { class: "grid" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Id"), el("th", { scope: "col", class: "num" }, "Score"))),
      el("tbody", {}, items.length ? items.map((it) => el("tr", {}, el("td", { class: "mono" }, it.id), el("td", { class: "num" }, String(it.score))))
        : el("tr", {}, el("td", { colspan: 2, class: "empty" }, "No entries."))))),
    body.next_cursor ? el("div", { class: "card-foot" }, el("span", { class: "meta" }, `${items.length} shown`),
      el("button", { type: "button", class: "ghost", onclick: () => more(body.next_cursor) }, "Next page")) : null);
}

function groupsTable(body, sums) {
  const groups = body.groups || [];
  return el("div", { class: "scroll" }, el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Group"), el("th", { scope: "col", class: "num" }, "Count"),
      sums.map((s) => el("th", { scope: "col", class: "num" }, s)))),
    el("tbody", {}, groups.length ? groups.map((g) => el("tr", {},
      el("td", {}, g.parts ? Object.entries(g.parts).map(([k, x]) => `${k}=${x}`).join(", ") : g.key),
      el("td", { class: "num" }, String(g.count)),
      sums.map((s) => el("td", { class: "num" }, g.sums && g.sums[s] !== undefined ? g.sums[s] : "—"))))
      : el("tr", {}, el("td", { colspan: 2 + sums.length, class: "empty" }, "No groups.")))));
}

function historyList(body) {
  const events = !body ? [] : Array.isArray(body) ? body : body.events || body.items || [];
  if (!events.length) return el("p", { class: "empty" }, "No history.");
  return el("ol", { class: "timeline" }, events.map((ev) => el("li", {},
    el("span", { class: "act" }, ev.type), el("span", { class: "when" }, when(ev.time)),
    el("div", { class: "detail mono" }, JSON.stringify(ev.data)))));
}
