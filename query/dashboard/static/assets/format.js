// Pure helpers: DOM building, formatting of times, decimals and event types.
// Nothing here talks to the network.

/** el builds an element: el("td", {class: "num"}, "text", child…). Text is
 * always set as text, never parsed as HTML, so data cannot inject markup. */
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "style") for (const [p, pv] of Object.entries(v)) e.style.setProperty(p, pv);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** ago renders a duration in milliseconds as "0.4 s ago", "12 s ago", "3 min ago". */
export function ago(ms) {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s ago`;
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** seconds renders a staleness in seconds: "0.42 s", "12 s", "3.1 min". */
export function seconds(s) {
  if (typeof s !== "number" || !Number.isFinite(s)) return "—";
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** when renders a time as "23 Nov 10:15" (with the year when it is not
 * this year's: "3 Feb 2001 04:05"). A local date-time without offset
 * ("2026-11-23T10:15:00.123456", how the source's timestamps arrive) is shown
 * as written, in the source's time zone; an RFC 3339 time with an offset is
 * shown in the browser's time zone. Anything else is returned unchanged. */
export function when(v) {
  if (typeof v !== "string") return v === undefined || v === null ? "" : String(v);
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(v);
  if (!m) return v;
  const thisYear = new Date().getFullYear();
  if (!m[7]) return `${+m[3]} ${months[+m[2] - 1]}${+m[1] === thisYear ? "" : " " + m[1]} ${m[4]}:${m[5]}`;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return v;
  const p = (n) => String(n).padStart(2, "0");
  const y = d.getFullYear() === thisYear ? "" : ` ${d.getFullYear()}`;
  return `${d.getDate()} ${months[d.getMonth()]}${y} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** dayLabel renders a day key "2026-11-23" as "Mon 23 Nov"; other keys unchanged. */
export function dayLabel(key) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(key || "");
  if (!m) return key;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  const wd = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][d.getUTCDay()];
  return `${wd} ${+m[3]} ${months[+m[2] - 1]}`;
}

/** scaled reads a decimal string ("123.40", "-5", "7.125") exactly as a
 * BigInt scaled by 10^scale, or null when it is not a plain decimal. */
export function scaled(s, scale) {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(s).trim());
  if (!m) return null;
  let frac = m[3] || "";
  if (frac.length > scale) frac = frac.slice(0, scale);
  const n = BigInt(m[2] + frac.padEnd(scale, "0"));
  return m[1] ? -n : n;
}

/** decimalScale is the number of digits after the point of a decimal string. */
export function decimalScale(s) {
  const i = String(s).indexOf(".");
  return i < 0 ? 0 : String(s).length - i - 1;
}

/** share is value/max in [0, 1] for two decimal strings, computed exactly on
 * scaled integers (to 0.1 %), for the length of a bar; the amounts shown are
 * the strings themselves, never a float's rendering. */
export function share(value, max) {
  const scale = Math.max(decimalScale(value), decimalScale(max));
  const v = scaled(value, scale), m = scaled(max, scale);
  if (v === null || m === null || m <= 0n || v <= 0n) return 0;
  const permille = (v * 1000n) / m;
  return Number(permille > 1000n ? 1000n : permille) / 1000;
}

/** maxDecimal returns the greatest of decimal strings (exactly), or "0". */
export function maxDecimal(list) {
  let best = "0";
  for (const s of list) {
    const scale = Math.max(decimalScale(s), decimalScale(best));
    const a = scaled(s, scale), b = scaled(best, scale);
    if (a !== null && b !== null && a > b) best = s;
  }
  return best;
}

/** act turns an event type into its act: "OrderPromised" → "promised",
 * "OrderLineAdded" → "line added", "OrderStateObserved" → "state observed". */
export function act(type, aggregate) {
  let t = String(type || "");
  const prefix = aggregate ? aggregate.charAt(0).toUpperCase() + aggregate.slice(1) : "";
  if (prefix && t.startsWith(prefix) && t.length > prefix.length) t = t.slice(prefix.length);
  return t.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
}

/** statuses of the reference example in their usual order. */
export const statusOrder = ["requested", "promised", "declared", "accepted", "declined", "rejected", "revoked"];

/** statusVar returns the CSS custom property holding a status's colour. */
export function statusVar(status) {
  const s = String(status || "").toLowerCase().split(" ").pop();
  return statusOrder.includes(s) ? `var(--st-${s})` : "var(--accent)";
}

/** fieldText renders a stored field value for display. */
export function fieldText(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}
