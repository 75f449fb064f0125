// Every request of the UI goes through this module: one place for the CSRF header,
// JSON/error handling, the login redirect, and the event streams.
const API = "/api/v1";
const UI_API = "/ui/api";
// The API requires this header on cookie-authenticated unsafe requests (server/auth/deps.py).
const CSRF_HEADER = { "X-Requested-With": "winoprune-ui" };

export class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.message(status, body));
    this.status = status;
    this.body = body;
  }

  static message(status, body) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    return `request failed (HTTP ${status})`;
  }

  // [{path: "stages.1.target", msg}] with the request-body prefix ("body", "recipe") removed.
  fieldErrors() {
    const detail = this.body && this.body.detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        const loc = [...(d.loc || [])];
        if (loc[0] === "body") loc.shift();
        if (loc[0] === "recipe" && loc.length > 1) loc.shift();
        if (loc[0] === "patch" && loc.length > 1) loc.shift();
        return { path: loc.join("."), msg: d.msg };
      });
    }
    const field = this.body && this.body.field;
    return [{ path: field || "", msg: this.message }];
  }
}

function query(params = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, item);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function toLogin() {
  const here = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(here)}`);
}

async function request(method, path, { json, form, params, headers = {}, auth = true } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...CSRF_HEADER, ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (form !== undefined) {
    init.body = new URLSearchParams(form);
  }
  const response = await fetch(path + query(params), init);
  if (response.status === 401 && auth) {
    toLogin();
    throw new ApiError(401, { detail: "not logged in" });
  }
  const type = response.headers.get("Content-Type") || "";
  const body = response.status === 204 ? null : type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

const get = (path, params) => request("GET", path, { params });
const post = (path, json, headers) => request("POST", path, { json, headers });

export const api = {
  // auth and tokens
  login: (username, password) => request("POST", `${API}/auth/login`, { form: { username, password }, auth: false }),
  logout: () => request("POST", `${API}/auth/logout`),
  me: () => get(`${API}/auth/me`),
  tokens: () => get(`${API}/auth/tokens`),
  createToken: (name, scopes, days) => post(`${API}/auth/tokens`, { name, scopes, expires_in_days: days }),
  revokeToken: (id) => request("DELETE", `${API}/auth/tokens/${id}`),
  changePassword: (currentPassword, newPassword, revokeTokens) => post(`${API}/auth/password`, { current_password: currentPassword, new_password: newPassword, revoke_tokens: revokeTokens }),
  users: () => get(`${API}/users`),
  createUser: (username, password, isAdmin) => post(`${API}/users`, { username, password, is_admin: isAdmin }),
  updateUser: (id, changes) => request("PATCH", `${API}/users/${id}`, { json: changes }),
  // projects and members
  projects: () => get(`${API}/projects`),
  createProject: (name, description) => post(`${API}/projects`, { name, description }),
  members: (projectId) => get(`${API}/projects/${projectId}/members`),
  addMember: (projectId, username, role) => post(`${API}/projects/${projectId}/members`, { username, role }),
  changeRole: (projectId, userId, role) => request("PATCH", `${API}/projects/${projectId}/members/${userId}`, { json: { role } }),
  removeMember: (projectId, userId) => request("DELETE", `${API}/projects/${projectId}/members/${userId}`),
  // runs
  runs: (params) => get(`${API}/runs`, params),
  run: (id) => get(`${API}/runs/${id}`),
  createRun: (body, idempotencyKey) => post(`${API}/runs`, body, idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {}),
  cancelRun: (id) => post(`${API}/runs/${id}/cancel`),
  retryRun: (id, mode = "continue") => post(`${API}/runs/${id}/retry`, { mode }),
  patchRun: (id, changes) => request("PATCH", `${API}/runs/${id}`, { json: changes }),
  deleteRun: (id) => request("DELETE", `${API}/runs/${id}`),
  queue: (projectId) => get(`${API}/queue`, { project: projectId }),
  resumeRun: (id, stage) => post(`${API}/runs/${id}/resume`, { stage }),
  // sensitivity scans (issue 17)
  scans: (params) => get(`${API}/sensitivity`, params),
  scan: (id) => get(`${API}/sensitivity/${id}`),
  createScan: (body) => post(`${API}/sensitivity`, body),
  scanPoints: (id, after = 0) => get(`${API}/sensitivity/${id}/points`, { after }),
  cancelScan: (id) => post(`${API}/sensitivity/${id}/cancel`),
  resumeScan: (id) => post(`${API}/sensitivity/${id}/resume`),
  allocate: (id, target, budget) => post(`${API}/sensitivity/${id}/allocate`, { target, budget }),
  scanExportUrl: (id, format) => `${API}/sensitivity/${id}/export${query({ format })}`,
  scanChanges: (id, after = 0) => get(`${API}/sensitivity/${id}/changes`, { after }),
  scanEventsUrl: (id, after) => `${API}/sensitivity/${id}/events${query({ after })}`,
  // results
  metrics: (id, after = 0) => get(`${API}/runs/${id}/metrics`, { after }),
  layers: (id, params = {}) => get(`${API}/runs/${id}/layers`, params),
  artifacts: (id) => get(`${API}/runs/${id}/artifacts`),
  speed: (id) => get(`${API}/runs/${id}/speed`), // measured speed of its exports (issue 18)
  // Not in the API yet (see the README): the a x a fraction of zeros at each Winograd position.
  zeroMap: (id, stage, layer) => get(`${API}/runs/${id}/patterns`, { stage, layer }),
  // change notices: polling fallback
  runChanges: (id, after = 0) => get(`${API}/runs/${id}/changes`, { after }),
  projectChanges: (id, after = 0) => get(`${API}/projects/${id}/changes`, { after }),
  // UI helpers served by server/pages
  presets: () => get(`${UI_API}/recipes`),
  importance: (tile) => get(`${UI_API}/importance`, { tile }),
  yamlToRecipe: (text) => post(`${UI_API}/yaml`, { text }),
  // URLs for links and streams
  exportUrl: (id, table, format) => `${API}/runs/${id}/export${query({ table, format })}`,
  downloadUrl: (artifactId) => `${API}/artifacts/${artifactId}/download`,
  runEventsUrl: (id, after) => `${API}/runs/${id}/events${query({ after })}`,
  projectEventsUrl: (id, after) => `${API}/projects/${id}/events${query({ after })}`,
};

// Page through a cursor-paginated run list (stops after maxPages).
export async function allRuns(params, maxPages = 20) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page += 1) {
    const result = await api.runs({ ...params, limit: 200, cursor });
    items.push(...result.items);
    if (!result.next_cursor) break;
    cursor = result.next_cursor;
  }
  return items;
}

// Live change notices: server-sent events, falling back to polling `changes?after=` when the
// stream fails repeatedly. onEvents receives arrays of notices; `kinds`: the named events to
// listen to (a run's or a project's by default, SCAN_EVENT_KINDS for a scan); returns a stop
// function.
export function follow({ streamUrl, poll, after, onEvents, onMode = () => {}, pollMs = 2000, kinds = EVENT_KINDS }) {
  let cursor = after;
  let stopped = false;
  let source = null;
  let failures = 0;
  let timer = null;

  const startPolling = () => {
    onMode("polling");
    const tick = async () => {
      if (stopped) return;
      try {
        const result = await poll(cursor);
        if (result.events.length) onEvents(result.events);
        cursor = result.cursor;
      } catch (error) {
        onMode("offline");
      }
      timer = setTimeout(tick, pollMs);
    };
    tick();
  };

  if (typeof EventSource === "undefined") {
    startPolling();
  } else {
    source = new EventSource(streamUrl(cursor), { withCredentials: true });
    source.onopen = () => { failures = 0; onMode("live"); };
    source.onerror = () => {
      failures += 1;
      if (failures >= 3 && source) {
        source.close();
        source = null;
        startPolling();
      }
    };
    const handle = (event) => {
      const notice = JSON.parse(event.data);
      cursor = Math.max(cursor, notice.id);
      onEvents([notice]);
    };
    for (const kind of kinds) source.addEventListener(kind, handle);
    source.onmessage = handle;
  }
  return () => {
    stopped = true;
    if (source) source.close();
    if (timer) clearTimeout(timer);
  };
}

// The notice kinds the service publishes (server/runs/*.py); SSE delivers them as named events.
export const EVENT_KINDS = [
  "run.created", "run.updated", "run.deleted", "run.cancelled", "run.cancel_requested",
  "run.retried", "run.resumed", "run.started", "run.progress", "run.finished",
  "stage.started", "stage.finished", "metrics", "layers", "artifact.created", "log",
  "speed.measured",
];
// A sensitivity scan's notices (worker/sensitivity_runner.py, worker/scan_sweeper.py,
// server/sensitivity/service.py).
export const SCAN_EVENT_KINDS = ["scan.updated", "scan.points", "scan.finished"];
