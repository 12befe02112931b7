// The widget's framed page: a customer's sources, made from the templates their workspace's
// tags select, with forms generated from each template's config spec (`form.js`). The
// protocol with the host page is documented in `bulkhead-server/src/widget.rs`.
//
// Trust: the page does nothing until a token message arrives from its parent window, from the
// origin the token itself is bound to (its signed `origin` claim). Any other message (another
// window, another origin, another shape) is ignored without a trace. Events go back to the
// parent addressed to that origin only. A fresh token (`updateToken`) is taken under the same
// rule, and only for the same workspace. The DOM is built with createElement and textContent:
// nothing the API returns is ever parsed as HTML.

import { h, uid } from "./dom.js";
import { collect, field, objectFields, showProblem } from "./form.js";

const TAG = "bulkhead-widget";
/// How long before the token's expiry the host is asked for a fresh one.
const EXPIRY_NOTICE_MS = 60_000;
/// The server's root: the page is `<root>/widget/`, whatever prefix the host mounted it at.
const ROOT = new URL("../", location.href);

const app = document.getElementById("app");
const statusLine = document.getElementById("status");
const who = document.getElementById("who");

/** The session: the token, its claims and the host's origin; null until a valid token. */
let session = null;
let expired = false;
let expiryTimer = 0;
let info = null;
let templates = [];
/** What Escape does in the current view. */
let onEscape = null;

function show(state, ...children) {
  // A result ("Source created") is read on the list it leads to, not carried further.
  if (state !== "home") say("");
  app.replaceChildren(...children);
  app.dataset.state = state;
  app.removeAttribute("aria-busy");
  const heading = app.querySelector("h2");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: false });
  }
}

function say(text) {
  statusLine.textContent = text;
}

// ---- the token and the host ----

function claimsOf(jwt) {
  const parts = typeof jwt === "string" ? jwt.split(".") : [];
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** Posts an event to the host page, addressed to the token's origin only. */
function post(type, data = null) {
  if (!session) return;
  window.parent.postMessage({ bulkhead: TAG, type, data }, session.origin);
}

function scheduleExpiry() {
  clearTimeout(expiryTimer);
  const due = session.claims.exp * 1000 - EXPIRY_NOTICE_MS - Date.now();
  expiryTimer = setTimeout(() => post("token_expiring", { expires_at: session.claims.exp }), Math.max(0, due));
}

window.addEventListener("message", (event) => {
  // Only the window that framed this page, and only from the origin the token names.
  if (window.parent === window || event.source !== window.parent) return;
  const message = event.data;
  if (!message || message.bulkhead !== TAG || message.type !== "token") return;
  const claims = claimsOf(message.token);
  if (!claims || typeof claims.origin !== "string" || claims.origin !== event.origin) return;
  if (typeof claims.exp !== "number" || typeof claims.sub !== "string") return;
  // The host the page was opened for (its `frame-ancestors`) must be the token's too.
  const host = new URLSearchParams(location.search).get("host");
  if (host !== null && host !== claims.origin) return;
  if (session) {
    // A fresh token: the same host and the same workspace, or nothing.
    if (claims.origin !== session.origin || claims.sub !== session.claims.sub) return;
    session.token = message.token;
    session.claims = claims;
    scheduleExpiry();
    if (expired) {
      expired = false;
      say("");
      // Expired before the first load finished: start over, else back to the list.
      if (info) home();
      else start();
    }
    return;
  }
  session = { token: message.token, claims, origin: claims.origin };
  scheduleExpiry();
  start();
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.defaultPrevented) return;
  if (onEscape) onEscape();
  else post("close");
});

// ---- the API ----

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `the server answered ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(new URL(path, ROOT), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, { title: "network error", detail: "the server cannot be reached; try again" });
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.status === 401) {
    sessionExpired();
    throw new ApiError(401, json);
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

const can = (op) => Boolean(info && info.operations.includes(op));

function sessionExpired() {
  expired = true;
  onEscape = null;
  show(
    "expired",
    h("h2", {}, "Session expired"),
    h("p", {}, "Your session has expired. Close this window and open it again from the application."),
  );
  say("Session expired");
}

function failed(err) {
  if (err instanceof ApiError && err.status === 401) return;
  onEscape = null;
  show(
    "error",
    h("h2", {}, "Something went wrong"),
    h("p", { class: "error" }, err.message),
    h("div", { class: "actions" }, h("button", { type: "button", on: { click: home } }, "Try again")),
  );
}

// ---- the views ----

async function start() {
  try {
    info = await api("GET", "api/v1/embedded/scoped-token/info");
    who.textContent = info.workspace_name;
    const page = can("templates:read") ? await api("GET", "api/v1/embedded/source-templates") : { data: [] };
    templates = page.data;
    await home();
  } catch (err) {
    failed(err);
  }
}

/** Every item of a paged list, following its `next` links (on this origin only). */
async function all(first) {
  const items = [];
  let next = first;
  while (next) {
    const page = await api("GET", next);
    items.push(...page.data);
    // The link's path and query, never its origin: the token goes to this server only.
    next = page.next ? (({ pathname, search }) => pathname + search)(new URL(page.next, ROOT)) : null;
  }
  return items;
}

/** The workspace's sources, each with its connections and their last sync. */
async function loadSources() {
  const sources = await all("api/v1/embedded/sources?limit=100");
  const bySource = new Map(sources.map((s) => [s.id, []]));
  if (can("connections:read")) {
    const ws = encodeURIComponent(info.workspace_id);
    for (const connection of await all(`v1/connections?workspaceIds=${ws}&limit=100`)) {
      const list = bySource.get(connection.sourceId);
      if (list) list.push({ connection, job: null });
    }
  }
  if (can("syncs:read")) {
    const entries = [...bySource.values()].flat();
    await Promise.all(
      entries.map(async (entry) => {
        const id = encodeURIComponent(entry.connection.connectionId);
        const jobs = await api("GET", `v1/jobs?connectionId=${id}&orderBy=createdAt%7CDESC&limit=1`);
        entry.job = jobs.data[0] || null;
      }),
    );
  }
  return sources.map((source) => ({ source, connections: bySource.get(source.id) || [] }));
}

function when(text) {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toLocaleString();
}

function connectionItem({ connection, job }) {
  const sync = job
    ? h("span", { class: `badge sync-${job.status}` }, `last sync ${job.status}`)
    : h("span", { class: "badge sync-none" }, "not synced yet");
  const time = job ? h("time", { dateTime: job.lastUpdatedAt || job.startTime }, when(job.lastUpdatedAt || job.startTime)) : null;
  return h(
    "li",
    { class: "connection", "data-connection": connection.connectionId },
    h("span", { class: "connection-name" }, connection.name),
    h("span", { class: `badge status-${connection.status}` }, connection.status),
    sync,
    time,
  );
}

/** What a source is: its template's name, and the connector when that says more. */
function sourceKind(source, template) {
  if (!template) return source.connector_name;
  if (template.name.toLowerCase() === source.connector_name) return template.name;
  return `${template.name} · ${source.connector_name}`;
}

function sourceCard({ source, connections }) {
  const template = templates.find((t) => t.id === source.source_template_id);
  const headingId = uid("source");
  return h(
    "li",
    { class: "card", "data-source": source.id, "aria-labelledby": headingId },
    h("h3", { id: headingId }, source.name),
    h("p", { class: "meta" }, sourceKind(source, template)),
    connections.length
      ? h("ul", { class: "connections", "aria-label": `Connections of ${source.name}` }, connections.map(connectionItem))
      : h("p", { class: "meta" }, "No connections."),
    h(
      "div",
      { class: "actions" },
      can("sources:update") && template
        ? h("button", { type: "button", class: "edit", "aria-label": `Edit ${source.name}`, on: { click: () => editForm(source, template) } }, "Edit")
        : null,
      can("sources:delete")
        ? h("button", { type: "button", class: "delete danger", "aria-label": `Delete ${source.name}`, on: { click: () => confirmDelete(source, connections) } }, "Delete")
        : null,
    ),
  );
}

async function home() {
  onEscape = null;
  app.setAttribute("aria-busy", "true");
  let items;
  try {
    items = await loadSources();
  } catch (err) {
    failed(err);
    return;
  }
  const add = can("sources:create") && templates.length
    ? h("button", { type: "button", class: "primary add", on: { click: pick } }, "Add a source")
    : null;
  show(
    "home",
    h("div", { class: "heading" }, h("h2", {}, "Your sources"), add),
    items.length
      ? h("ul", { class: "cards", "aria-label": "Your sources" }, items.map(sourceCard))
      : h("p", { class: "note empty" }, "No sources yet."),
    h("div", { class: "actions" }, h("button", { type: "button", class: "refresh", on: { click: home } }, "Refresh")),
  );
}

function pick() {
  onEscape = home;
  show(
    "pick",
    h("h2", {}, "Choose a source"),
    h(
      "ul",
      { class: "templates", "aria-label": "Available sources" },
      templates.map((template) =>
        h(
          "li",
          {},
          h(
            "button",
            { type: "button", class: "template", "data-template": template.id, on: { click: () => createForm(template) } },
            h("span", { class: "template-name" }, template.name),
            h("span", { class: "meta" }, template.connector_name),
          ),
        ),
      ),
    ),
    h("div", { class: "actions" }, h("button", { type: "button", on: { click: home } }, "Back")),
  );
}

function sourceForm({ heading, template, source, submitLabel, submit }) {
  const editing = Boolean(source);
  const form = { fields: [], objects: [] };
  const spec = template.user_config_spec || {};
  const initial = editing ? source.source_config : template.partial_default_config || {};
  const nameRow = field(form, "name", { type: "string", title: "Name", description: "How this source is called in your list." }, "name", true, editing ? source.name : template.name, false);
  form.nameField = form.fields.pop();
  form.alert = h("p", { class: "alert", role: "alert", tabIndex: -1, hidden: true });
  const button = h("button", { type: "submit", class: "primary" }, submitLabel);
  const element = h(
    "form",
    { class: "source-form", noValidate: true, "aria-labelledby": "form-heading" },
    form.alert,
    nameRow,
    objectFields(form, spec, "", initial, editing),
    h("p", { class: "help legend" }, h("span", { class: "required", "aria-hidden": "true" }, "*"), " required"),
    h("div", { class: "actions" }, button, h("button", { type: "button", on: { click: home } }, "Cancel")),
  );
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.alert.hidden = true;
    let name;
    try {
      form.nameField.setError("");
      name = form.nameField.value({});
    } catch (err) {
      form.nameField.setError(err.message);
    }
    const config = collect(form, editing ? source.source_config : {});
    if (config === null || name === undefined) {
      if (name === undefined) form.nameField.control.focus();
      return;
    }
    button.disabled = true;
    try {
      await submit(name.trim(), config);
    } catch (err) {
      button.disabled = false;
      if (!(err instanceof ApiError) || err.status !== 401) showProblem(form, err);
    }
  });
  onEscape = home;
  show(editing ? "edit" : "create", h("h2", { id: "form-heading" }, heading), element);
}

function problemData(err) {
  const p = (err && err.problem) || {};
  return { status: err.status || 0, type: p.type || null, title: p.title || null, detail: p.detail || err.message, field: p.field || null };
}

function createForm(template) {
  sourceForm({
    heading: `New ${template.name} source`,
    template,
    submitLabel: "Create source",
    async submit(name, config) {
      let made;
      try {
        made = await api("POST", "api/v1/embedded/sources", { name, source_template_id: template.id, source_config: config });
      } catch (err) {
        post("source_created_error", problemData(err));
        throw err;
      }
      post("source_created", {
        source_id: made.id,
        name: made.name,
        source_template_id: template.id,
        connection_ids: (made.connections || []).map((c) => c.id),
      });
      say(`Source “${made.name}” created.`);
      await home();
    },
  });
}

function editForm(source, template) {
  sourceForm({
    heading: `Edit ${source.name}`,
    template,
    source,
    submitLabel: "Save changes",
    async submit(name, config) {
      let saved;
      try {
        saved = await api("PUT", `api/v1/embedded/sources/${encodeURIComponent(source.id)}`, { name, source_config: config });
      } catch (err) {
        post("source_updated_error", { source_id: source.id, ...problemData(err) });
        throw err;
      }
      post("source_updated", { source_id: saved.id, name: saved.name });
      say(`Source “${saved.name}” saved.`);
      await home();
    },
  });
}

function confirmDelete(source, connections) {
  const alert = h("p", { class: "alert", role: "alert", tabIndex: -1, hidden: true });
  const yes = h("button", { type: "button", class: "danger confirm-delete" }, "Delete source");
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try {
      // A source a connection uses cannot be deleted: its connections go first.
      for (const { connection } of connections) {
        await api("DELETE", `v1/connections/${encodeURIComponent(connection.connectionId)}`);
      }
      await api("DELETE", `api/v1/embedded/sources/${encodeURIComponent(source.id)}`);
    } catch (err) {
      yes.disabled = false;
      post("source_deleted_error", { source_id: source.id, ...problemData(err) });
      if (!(err instanceof ApiError) || err.status !== 401) {
        alert.textContent = err.message;
        alert.hidden = false;
        alert.focus();
      }
      return;
    }
    post("source_deleted", { source_id: source.id, name: source.name });
    say(`Source “${source.name}” deleted.`);
    await home();
  });
  const count = connections.length;
  onEscape = home;
  show(
    "confirm",
    h("h2", {}, `Delete ${source.name}?`),
    h(
      "p",
      {},
      count
        ? `Its ${count === 1 ? "connection" : `${count} connections`} will be deleted too. This cannot be undone.`
        : "This cannot be undone.",
    ),
    alert,
    h("div", { class: "actions" }, yes, h("button", { type: "button", class: "cancel", on: { click: home } }, "Cancel")),
  );
}

// ---- start: tell the host this page is ready for its token ----

if (window.parent === window) {
  app.replaceChildren(h("p", { class: "note" }, "This page opens inside an application, from its “connect your data” button."));
  app.dataset.state = "unframed";
  app.removeAttribute("aria-busy");
} else {
  // Nothing secret here, and the host's origin is unknown until its token arrives, so this
  // one message goes to any parent origin; everything after is addressed to the token's.
  window.parent.postMessage({ bulkhead: TAG, type: "ready" }, "*");
}
