// Small DOM, formatting and URL-state helpers shared by the page modules.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

// h("a", {href: "/x", class: "btn"}, "text", child) -> element; attributes starting with "on"
// become listeners; text is always set as text (never parsed as HTML).
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function fmtDate(value) {
  if (!value) return "—";
  const date = new Date(value);
  return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export const fmtPct = (value) => (value === null || value === undefined ? "—" : `${(100 * value).toFixed(1)} %`);
export const fmtTimes = (value) => (value === null || value === undefined ? "—" : `${value.toFixed(2)}×`);
export const fmtInt = (value) => (value === null || value === undefined ? "—" : Math.round(value).toLocaleString("en-US"));
export { stageLabel } from "./results-labels.js";

export function badge(status) {
  return h("span", { class: `badge badge-${status}`, "data-status": status }, status);
}

// URL state: read and replace query parameters without reloading.
export const urlParams = () => new URLSearchParams(location.search);

export function setUrlParams(changes, { push = false } = {}) {
  const params = urlParams();
  for (const [key, value] of Object.entries(changes)) {
    params.delete(key);
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== "") params.append(key, item);
    }
  }
  const url = `${location.pathname}${params.toString() ? `?${params}` : ""}`;
  (push ? history.pushState : history.replaceState).call(history, null, "", url);
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function flash(message, kind = "info") {
  const box = $("#flash");
  if (!box) return;
  box.textContent = message;
  box.className = `flash flash-${kind}`;
  box.hidden = !message;
}

export function liveStatus(mode) {
  const box = $("#live-status");
  if (!box) return;
  const text = { live: "● live", polling: "● live (polling)", offline: "○ reconnecting…" }[mode] || "";
  box.textContent = text;
  box.dataset.mode = mode;
}

export const mainData = () => $("#main").dataset;

// Minimal YAML emitter for JSON-like recipes (mappings, lists, scalars), in insertion order.
export function toYaml(value, indent = "") {
  if (Array.isArray(value)) {
    if (!value.length) return " []";
    return value.map((item) => {
      const inner = toYaml(item, `${indent}  `);
      return isObject(item) ? `\n${indent}-${inner.replace(/^\n\s*/, " ")}` : `\n${indent}-${inner}`;
    }).join("");
  }
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (!keys.length) return " {}";
    return keys.map((key) => `\n${indent}${yamlScalar(key)}:${toYaml(value[key], `${indent}  `)}`).join("");
  }
  return ` ${yamlScalar(value)}`;
}

export const recipeYaml = (recipe) => `${toYaml(recipe).replace(/^\n/, "")}\n`;

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

function yamlScalar(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const text = String(value);
  const plain = /^[A-Za-z0-9_./()-][A-Za-z0-9_ ./(),:-]*$/.test(text) && !/: |:$| $/.test(text);
  const ambiguous = /^(true|false|null|yes|no|on|off|~|[-+]?[0-9.]+(e[-+]?[0-9]+)?)$/i.test(text);
  return plain && !ambiguous ? text : JSON.stringify(text);
}

// Dotted paths ("stages.1.optimizer.lr") into nested objects and arrays.
export function getPath(object, path) {
  return path.split(".").reduce((node, key) => (node === undefined || node === null ? undefined : node[key]), object);
}

export function setPath(object, path, value) {
  const keys = path.split(".");
  let node = object;
  keys.slice(0, -1).forEach((key, i) => {
    if (node[key] === undefined || node[key] === null) node[key] = /^\d+$/.test(keys[i + 1]) ? [] : {};
    node = node[key];
  });
  const last = keys[keys.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
}
