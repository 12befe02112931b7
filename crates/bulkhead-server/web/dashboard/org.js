// The dashboard's organization page (`#/organization`): the organization's numbers, the
// workspace creations of the last day as a chart, refusals and isolation breaches, the audit
// log and its chain, templates and tags (source and connection templates created and edited:
// name, JSON spec, default configuration, tags), org keys and signing keys.
//
// `renderOrganization(root, api)` draws it into `root`; `api` is the shell's
// `{get(path), send(method, path, body)}`, both rejecting with an Error whose `.problem` is
// the problem document. The DOM is built with createElement and textContent only: no HTML
// is ever parsed from data, so nothing the server (or a tenant's name) says becomes markup.

const ORG = "/api/v1/organization";
const TEMPLATES = "/api/v1/integrations/templates";
const SVG_NS = "http://www.w3.org/2000/svg";
const AUDIT_PAGE = 20;

/** An element with attributes (`class`, `for`, `aria-*`, ...) and children (nodes or text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

let ids = 0;
/** A fresh id for a label's `for`. */
function uid(prefix) {
  ids += 1;
  return `org-${prefix}-${ids}`;
}

/** What went wrong, in the server's words when it gave some. */
function describe(err) {
  const p = err && err.problem;
  if (p) return p.detail || p.title || `error ${p.status}`;
  return (err && err.message) || "something went wrong";
}

/** A UTC time, to the minute: `2026-12-02 03:04 UTC`. */
function when(iso) {
  if (!iso) return "—";
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

function number(n) {
  return Number(n || 0).toLocaleString("en");
}

/** A section with a heading, a live status line, and a body that `load` fills. */
function section(title, id) {
  const heading = el("h2", { id: `${id}-title` }, title);
  const status = el("p", { class: "org-status", role: "status", "aria-live": "polite", tabindex: "-1" });
  const body = el("div", { class: "org-body" });
  const node = el("section", { class: "org-section", id, "aria-labelledby": `${id}-title` }, heading, status, body);
  return {
    node,
    body,
    status,
    say(text, kind = "info") {
      status.textContent = text;
      status.className = `org-status org-status-${kind}`;
    },
    fail(err) {
      status.textContent = describe(err);
      status.className = "org-status org-status-error";
      status.setAttribute("role", "alert");
    },
    clear() {
      status.textContent = "";
      status.className = "org-status";
      status.setAttribute("role", "status");
    },
  };
}

function button(text, onClick, attrs = {}) {
  const b = el("button", { type: "button", ...attrs }, text);
  b.addEventListener("click", onClick);
  return b;
}

/** Runs `action` with `control` disabled, reporting a failure in `sec`. When the action
 * redrew the part of the page that had the focus, the focus goes to the section's status
 * line (which says what happened) rather than back to the top of the page. */
async function busy(sec, control, action) {
  control.disabled = true;
  try {
    sec.clear();
    await action();
  } catch (err) {
    sec.fail(err);
  } finally {
    control.disabled = false;
    if (!document.activeElement || document.activeElement === document.body) sec.status.focus();
  }
}

function table(caption, headers, rows) {
  return el(
    "div",
    { class: "org-scroll" },
    el(
      "table",
      { class: "org-table" },
      el("caption", { class: "org-sr" }, caption),
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Numbers and the chart
// ---------------------------------------------------------------------------------------------

function hourLabel(unixSeconds) {
  return `${new Date(unixSeconds * 1000).toISOString().slice(11, 13)}:00`;
}

/** An SVG bar chart of workspace creations per hour, with a title, a description and axes. */
function creationChart(hours) {
  const width = 720;
  const height = 240;
  const left = 44;
  const right = 28;
  const top = 16;
  const bottom = 56;
  // Whole-number ticks, about four of them, the top one at or above the busiest hour.
  const peak = Math.max(1, ...hours.map((h) => h.count));
  const step = Math.max(1, Math.ceil(peak / 4));
  const max = step * Math.ceil(peak / step);
  const ticks = [];
  for (let v = 0; v <= max; v += step) ticks.push(v);
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const slot = plotW / Math.max(1, hours.length);
  const total = hours.reduce((sum, h) => sum + h.count, 0);
  const busiest = hours.reduce((a, b) => (b.count > a.count ? b : a), hours[0] || { count: 0, hour: 0 });
  const titleId = uid("chart-title");
  const descId = uid("chart-desc");
  const chart = svg("svg", {
    class: "org-chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": `${titleId} ${descId}`,
    preserveAspectRatio: "xMidYMid meet",
  });
  chart.append(svg("title", { id: titleId }, "Workspaces created per hour, last 24 hours (UTC)"));
  chart.append(
    svg(
      "desc",
      { id: descId },
      total === 0
        ? "No workspace was created in the last 24 hours."
        : `${total} workspaces created in the last 24 hours; the most in one hour was ${busiest.count}, at ${hourLabel(busiest.hour)} UTC.`,
    ),
  );
  // Horizontal grid lines and the y axis labels.
  for (const value of ticks) {
    const y = top + plotH - (value / max) * plotH;
    chart.append(svg("line", { class: "org-grid", x1: left, x2: width - right, y1: y, y2: y }));
    chart.append(svg("text", { class: "org-axis", x: left - 6, y: y + 4, "text-anchor": "end" }, String(value)));
  }
  hours.forEach((h, i) => {
    const barH = (h.count / max) * plotH;
    const x = left + i * slot + slot * 0.15;
    const bar = svg("rect", {
      class: "org-bar",
      x,
      y: top + plotH - barH,
      width: slot * 0.7,
      height: Math.max(barH, h.count > 0 ? 1 : 0),
    });
    bar.append(svg("title", {}, `${hourLabel(h.hour)} UTC: ${h.count} created`));
    chart.append(bar);
    if (i % 6 === 0 || i === hours.length - 1) {
      chart.append(
        svg("text", { class: "org-axis", x: x + slot * 0.35, y: height - bottom + 24, "text-anchor": "middle" }, hourLabel(h.hour)),
      );
    }
  });
  chart.append(svg("line", { class: "org-axis-line", x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }));
  chart.append(
    svg("text", { class: "org-axis", x: left + plotW / 2, y: height - 6, "text-anchor": "middle" }, "hour (UTC)"),
  );
  return chart;
}

/** The chart's numbers as a table, behind a disclosure: the text alternative. */
function creationTable(hours) {
  return el(
    "details",
    { class: "org-details" },
    el("summary", {}, "Show the numbers"),
    table(
      "Workspaces created per hour",
      ["Hour (UTC)", "Created"],
      hours.map((h) =>
        el("tr", {}, el("td", {}, `${new Date(h.hour * 1000).toISOString().slice(0, 10)} ${hourLabel(h.hour)}`), el("td", { class: "org-num" }, number(h.count))),
      ),
    ),
  );
}

function tile(label, value, extra = {}) {
  return el("div", { class: `org-tile ${extra.class || ""}`.trim(), "data-stat": extra.stat }, el("span", { class: "org-tile-label" }, label), el("span", { class: "org-tile-value" }, number(value)));
}

async function loadNumbers(sec, api) {
  sec.say("Loading…");
  const stats = await api.get(`${ORG}/stats`);
  sec.clear();
  const breaches = stats.isolation_breaches || 0;
  const r = stats.refusals || {};
  const alert =
    breaches > 0
      ? el("p", { class: "org-alert", role: "alert" }, `${breaches} isolation breach${breaches === 1 ? "" : "es"} refused: a storage adapter returned another tenant's rows. Nothing was shown to the caller, but this is a bug to report.`)
      : "";
  sec.body.replaceChildren(
    el(
      "div",
      { class: "org-tiles", "aria-label": "Workspaces by status" },
      tile("Active workspaces", stats.workspaces.active, { stat: "active" }),
      tile("Inactive workspaces", stats.workspaces.inactive, { stat: "inactive" }),
      tile("All workspaces", stats.workspaces.total, { stat: "total" }),
    ),
    el("h3", {}, "Workspace creations, last 24 hours"),
    el("figure", { class: "org-figure" }, creationChart(stats.creations_per_hour || [])),
    creationTable(stats.creations_per_hour || []),
    el("h3", {}, "Refusals and isolation"),
    el(
      "p",
      { class: "org-note" },
      "Counted by this server process since it started: another process serving the same database counts its own, and a restart starts again at zero.",
    ),
    el(
      "div",
      { class: "org-tiles" },
      tile("Isolation breaches", breaches, { class: breaches > 0 ? "org-tile-alert" : "org-tile-ok", stat: "isolation_breaches" }),
      tile("Permission denied", r.permission_denied, { stat: "permission_denied" }),
      tile("Invalid tokens", r.invalid_tokens, { stat: "invalid_tokens" }),
      tile("Rate limited", r.rate_limited, { stat: "rate_limited" }),
      tile("Refusals not logged (repeats)", r.denials_not_logged, { stat: "denials_not_logged" }),
      tile("Tokens issued", stats.tokens_issued, { stat: "tokens_issued" }),
    ),
    alert,
  );
}

// ---------------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------------

function auditSection(api) {
  const sec = section("Audit log", "org-audit");
  // Newest first: `before` pages back in time; `history` holds the `before` of each newer
  // page, for going forward again.
  const state = { before: null, history: [], filters: {} };
  const actionId = uid("action");
  const workspaceId = uid("workspace");
  const action = el("input", { id: actionId, name: "action", type: "text", placeholder: "org_key.revoke", autocomplete: "off", spellcheck: "false" });
  const workspace = el("input", { id: workspaceId, name: "workspace_id", type: "text", placeholder: "workspace uuid", autocomplete: "off", spellcheck: "false" });
  const apply = el("button", { type: "submit" }, "Filter");
  const form = el(
    "form",
    { class: "org-form", "aria-label": "Filter the audit log" },
    el("div", { class: "org-field" }, el("label", { for: actionId }, "Action"), action),
    el("div", { class: "org-field" }, el("label", { for: workspaceId }, "Workspace id"), workspace),
    apply,
  );
  const list = el("div", { class: "org-audit-list" });
  const prev = button("Newer events", () => page(state.history.pop() ?? null, false), { disabled: true });
  const next = button("Older events", () => {});
  const pager = el("div", { class: "org-pager" }, prev, next);
  const verify = el("button", { type: "button", class: "org-verify" }, "Verify chain");
  const verdict = el("p", { class: "org-verdict", role: "status", "aria-live": "polite" });
  sec.body.append(el("div", { class: "org-row" }, verify, verdict), form, list, pager);

  async function page(before, older) {
    const params = new URLSearchParams({ limit: String(AUDIT_PAGE) });
    if (before !== null) params.set("before", String(before));
    for (const [k, v] of Object.entries(state.filters)) if (v) params.set(k, v);
    try {
      sec.clear();
      const got = await api.get(`${ORG}/audit?${params}`);
      if (older) state.history.push(state.before);
      state.before = before;
      renderEvents(got.data || []);
      prev.disabled = state.history.length === 0;
      next.disabled = got.next === null || got.next === undefined;
      next.onclick = () => page(got.next, true);
    } catch (err) {
      sec.fail(err);
    }
  }

  function renderEvents(events) {
    if (events.length === 0) {
      list.replaceChildren(el("p", { class: "org-empty" }, "No events match."));
      return;
    }
    list.replaceChildren(
      table(
        "Audit events, newest first",
        ["#", "When", "Who", "Action", "Workspace", "Target", "Outcome"],
        events.map((e) =>
          el(
            "tr",
            { class: e.outcome === "ok" ? "" : "org-denied" },
            el("td", { class: "org-num" }, String(e.seq)),
            el("td", { class: "org-nowrap" }, when(e.at)),
            el("td", { class: "org-mono" }, e.actor),
            el("td", { class: "org-mono" }, e.action),
            el("td", { class: "org-mono org-id" }, e.workspace_id || "—"),
            el("td", { class: "org-mono org-id" }, e.target),
            el("td", {}, e.outcome),
          ),
        ),
      ),
    );
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.filters = { action: action.value.trim(), workspace_id: workspace.value.trim() };
    state.history = [];
    page(null, false);
  });
  verify.addEventListener("click", () =>
    busy(sec, verify, async () => {
      verdict.textContent = "Verifying…";
      verdict.className = "org-verdict";
      const v = await api.get(`${ORG}/audit/verify`);
      if (v.intact) {
        verdict.textContent = `Chain intact: ${number(v.verified)} events verified.`;
        verdict.className = "org-verdict org-verdict-ok";
      } else {
        verdict.textContent = `Chain broken at event ${v.broken.seq}: ${v.broken.reason} (${number(v.verified)} events verified before it).`;
        verdict.className = "org-verdict org-verdict-bad";
      }
    }),
  );
  return { sec, load: () => page(null, false) };
}

// ---------------------------------------------------------------------------------------------
// Templates and tags
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Template forms: create and edit
// ---------------------------------------------------------------------------------------------

/** The mask the API answers in place of a stored secret; sent back, it keeps the secret. */
const SECRET_MASK = "**********";

/** What each kind of template has: its fields, in the order of the form. `create` says the
 * field is only set when the template is made (a connector cannot change). */
const TEMPLATE_KINDS = {
  sources: {
    one: "source template",
    fields: [
      { name: "name", label: "Name", type: "text", hint: "Shown to customers. The connector's name when left blank.", editHint: "Shown to customers." },
      { name: "connector_name", label: "Connector", type: "text", create: true, required: true, placeholder: "stripe" },
      {
        name: "user_config_spec",
        label: "Configuration spec (JSON Schema)",
        type: "json",
        placeholder: '{"type": "object", "properties": {"api_key": {"type": "string", "airbyte_secret": true}}}',
        hint: 'The form customers fill in. Mark secret fields with "airbyte_secret": true.',
      },
      {
        name: "partial_default_config",
        label: "Default configuration (JSON)",
        type: "json",
        placeholder: "{}",
        hint: `Merged under what the customer fills in. Secrets are shown as ${SECRET_MASK}: leave the mask as it is to keep the stored secret, or replace it with a new one.`,
      },
    ],
  },
  connections: {
    one: "connection template",
    fields: [
      { name: "name", label: "Connection name", type: "text", hint: "The name of the connections made from it. The destination's name when left blank.", editHint: "The name of the connections made from it from now on." },
      { name: "destination_name", label: "Destination name", type: "text", required: true },
      { name: "destination_connector", label: "Destination connector", type: "text", create: true, required: true, placeholder: "postgres" },
      {
        name: "destination_config",
        label: "Destination configuration (JSON)",
        type: "json",
        required: true,
        placeholder: '{"host": "db.internal", "password": "…"}',
        hint: `Secrets are shown as ${SECRET_MASK}: leave the mask as it is to keep the stored secret, or replace it with a new one.`,
      },
      { name: "destination_spec", label: "Destination spec (JSON Schema, optional)", type: "json", placeholder: '{"type": "object"}' },
      { name: "cron_expression", label: "Schedule (cron, optional)", type: "text", placeholder: "30 2 * * *", hint: "Five fields: minute hour day month weekday. Blank: the connections run only when started." },
    ],
  },
};

/** A JSON text for a textarea: pretty, or empty for nothing. */
function jsonText(value) {
  return value === undefined || value === null ? "" : JSON.stringify(value, null, 2);
}

/** One field of a template form: its control, its hint, its own error line. */
function formField(given, value, editing) {
  const spec = editing && given.editHint ? { ...given, hint: given.editHint } : given;
  const id = uid(spec.name);
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = spec.hint ? `${hintId} ${errorId}` : errorId;
  const attrs = { id, name: spec.name, required: spec.required || false, placeholder: spec.placeholder, autocomplete: "off", spellcheck: "false", "aria-describedby": describedBy };
  const input = spec.type === "json" ? el("textarea", { ...attrs, rows: "7", class: "org-mono org-json" }) : el("input", { ...attrs, type: "text", maxlength: "200" });
  input.value = spec.type === "json" ? jsonText(value) : value ?? "";
  // A JSON field as tall as its text, within bounds.
  if (spec.type === "json") input.rows = Math.min(18, Math.max(5, input.value.split("\n").length + 1));
  const error = el("p", { id: errorId, class: "org-field-error" });
  const field = el(
    "div",
    { class: `org-field${spec.type === "json" ? " org-field-wide" : ""}` },
    el("label", { for: id }, spec.label),
    spec.hint ? el("p", { id: hintId, class: "org-hint org-field-hint" }, spec.hint) : "",
    input,
    error,
  );
  return {
    spec,
    field,
    input,
    initial: input.value,
    fail(text) {
      error.textContent = text;
      input.setAttribute("aria-invalid", "true");
    },
    clear() {
      error.textContent = "";
      input.removeAttribute("aria-invalid");
    },
  };
}

/** Tags as checkboxes, in a fieldset: each with its label. */
function tagPicker(all, chosen, whose) {
  const boxes = all.map((tag) => {
    const id = uid("tag-pick");
    const box = el("input", { id, type: "checkbox", name: "tags", value: tag, checked: chosen.includes(tag) });
    return { tag, box, node: el("span", { class: "org-check" }, box, el("label", { for: id }, tag)) };
  });
  const node = el(
    "fieldset",
    { class: "org-fieldset" },
    el("legend", {}, `Tags of ${whose}`),
    boxes.length ? boxes.map((b) => b.node) : el("p", { class: "org-empty" }, "No tags yet: create one above."),
  );
  return { node, chosen: () => boxes.filter((b) => b.box.checked).map((b) => b.tag) };
}

/**
 * A form that creates a template of `kind` (when `template` is null) or edits `template`.
 * JSON fields are parsed before anything is sent: a parse error is shown at its field and
 * nothing leaves the page. A problem the server answers is shown at the field it names (and
 * in the form's status line). `done(saved)` runs after a success.
 */
function templateForm(api, kind, template, allTags, done, cancel) {
  const what = TEMPLATE_KINDS[kind];
  const editing = template !== null;
  const whose = editing ? template.name : `the new ${what.one}`;
  const fields = what.fields.filter((f) => !(editing && f.create)).map((f) => formField(f, editing ? template[f.name] : undefined, editing));
  const picker = tagPicker(allTags, editing ? template.tags || [] : [], whose);
  const status = el("p", { class: "org-form-status", role: "status", "aria-live": "polite", tabindex: "-1" });
  const save = el("button", { type: "submit" }, editing ? "Save" : `Create ${what.one}`);
  const buttons = el("div", { class: "org-row" }, save, cancel ? button("Cancel", cancel) : "");
  const form = el(
    "form",
    { class: "org-form org-template-form", "aria-label": editing ? `Edit ${template.name}` : `Create a ${what.one}`, novalidate: true },
    fields.map((f) => f.field),
    picker.node,
    status,
    buttons,
  );

  /** The request's body, or null when a field is wrong (then shown at the field). */
  function body() {
    const out = {};
    let first = null;
    for (const f of fields) {
      f.clear();
      const text = f.input.value.trim();
      // On an edit, a field left as it was is not sent: the stored value stays.
      if (editing && f.input.value === f.initial && f.spec.name !== "name") continue;
      if (text === "") {
        if (f.spec.required) {
          f.fail(`${f.spec.label} is required.`);
          first = first || f;
        } else if (editing && f.spec.name === "cron_expression") {
          out.cron_expression = null;
        }
        continue;
      }
      if (f.spec.type !== "json") {
        out[f.spec.name] = text;
        continue;
      }
      let value;
      try {
        value = JSON.parse(text);
      } catch (err) {
        f.fail(`Not valid JSON: ${err.message}. Nothing was sent.`);
        first = first || f;
        continue;
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        f.fail("Must be a JSON object ({…}). Nothing was sent.");
        first = first || f;
        continue;
      }
      out[f.spec.name] = value;
    }
    if (first) {
      status.textContent = "Fix the marked field: nothing was sent.";
      status.className = "org-form-status org-status-error";
      first.input.focus();
      return null;
    }
    out.tags = picker.chosen();
    return out;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    status.className = "org-form-status";
    const sent = body();
    if (sent === null) return;
    save.disabled = true;
    try {
      const path = editing ? `${TEMPLATES}/${kind}/${encodeURIComponent(template.id)}` : `${TEMPLATES}/${kind}`;
      const saved = await api.send(editing ? "PATCH" : "POST", path, sent);
      await done(saved);
    } catch (err) {
      const named = err && err.problem && err.problem.field;
      const at = named && fields.find((f) => named === f.spec.name || named.startsWith(`${f.spec.name}.`) || named.startsWith(`${f.spec.name}/`));
      if (at) at.fail(describe(err));
      status.textContent = describe(err);
      status.className = "org-form-status org-status-error";
      (at ? at.input : status).focus?.();
    } finally {
      save.disabled = false;
    }
  });
  return { form, focus: () => fields[0].input.focus() };
}

function templatesSection(api) {
  const sec = section("Templates and tags", "org-templates");
  const tagId = uid("tag");
  const tagInput = el("input", { id: tagId, name: "tag", type: "text", required: true, maxlength: "64", autocomplete: "off", spellcheck: "false" });
  const create = el("button", { type: "submit" }, "Create tag");
  const tagForm = el("form", { class: "org-form", "aria-label": "Create a tag" }, el("div", { class: "org-field" }, el("label", { for: tagId }, "New tag"), tagInput), create);
  const tagList = el("ul", { class: "org-chips", "aria-label": "Tags" });
  const sources = el("div");
  const connections = el("div");
  const newSource = creator("sources");
  const newConnection = creator("connections");
  sec.body.append(
    el("h3", {}, "Tags"),
    tagList,
    tagForm,
    el("h3", {}, "Source templates"),
    sources,
    newSource,
    el("h3", {}, "Connection templates"),
    connections,
    newConnection,
  );
  let tags = [];

  /** "New source template": a disclosure whose form is drawn when it opens, with the tags
   * of that moment (a form already drawn for the same tags is kept, with what was typed). */
  function creator(kind) {
    const what = TEMPLATE_KINDS[kind];
    const holder = el("div", { class: "org-creator-body" });
    const details = el("details", { class: `org-details org-creator org-new-${kind}` }, el("summary", {}, `New ${what.one}`), holder);
    let drawnFor = null;
    details.addEventListener("toggle", () => {
      if (!details.open || drawnFor === tags.join("\n")) return;
      drawnFor = tags.join("\n");
      const made = templateForm(api, kind, null, tags, async (saved) => {
        drawnFor = null;
        details.open = false;
        holder.replaceChildren();
        await load();
        sec.say(`Created the ${what.one} ${saved.name}.`);
        const item = sec.body.querySelector(`[data-template="${saved.id}"] button`);
        (item || sec.status).focus();
      });
      holder.replaceChildren(made.form);
      made.focus();
    });
    return details;
  }

  async function load() {
    const [t, s, c] = await Promise.all([
      api.get(`${TEMPLATES}/tags`),
      api.get(`${TEMPLATES}/sources`),
      api.get(`${TEMPLATES}/connections`),
    ]);
    tags = (t.data || []).map((x) => x.name);
    tagList.replaceChildren(...(tags.length ? tags.map((n) => el("li", { class: "org-chip" }, n)) : [el("li", { class: "org-empty" }, "No tags yet.")]));
    renderTemplates(sources, "sources", s.data || [], (x) => x.connector_name);
    renderTemplates(connections, "connections", c.data || [], (x) => `${x.destination_name} (${x.destination_connector})`);
  }

  function renderTemplates(into, kind, items, detail) {
    if (items.length === 0) {
      into.replaceChildren(el("p", { class: "org-empty" }, "None."));
      return;
    }
    into.replaceChildren(el("ul", { class: "org-templates" }, items.map((t) => templateItem(kind, t, detail(t)))));
  }

  function templateItem(kind, t, detail) {
    const path = `${TEMPLATES}/${kind}/${encodeURIComponent(t.id)}`;
    const name = el("span", { class: "org-template-name" }, t.name);
    const rename = button("Rename", () => editName(), { "aria-label": `Rename ${t.name}` });
    const edit = button("Edit", () => editAll(), { "aria-label": `Edit ${t.name}`, "aria-expanded": "false", class: "org-edit" });
    const head = el("div", { class: "org-template-head" }, name, el("span", { class: "org-muted" }, detail), rename, edit);
    const chips = el(
      "ul",
      { class: "org-chips", "aria-label": `Tags of ${t.name}` },
      (t.tags || []).length
        ? t.tags.map((tag) =>
            el(
              "li",
              { class: "org-chip" },
              tag,
              button("×", () => busy(sec, chips, async () => {
                await api.send("DELETE", `${path}/tags/${encodeURIComponent(tag)}`);
                await load();
                sec.say(`Removed ${tag} from ${t.name}.`);
              }), { class: "org-chip-remove", "aria-label": `Remove tag ${tag} from ${t.name}` }),
            ),
          )
        : [el("li", { class: "org-empty" }, "no tags")],
    );
    const missing = tags.filter((tag) => !(t.tags || []).includes(tag));
    const selectId = uid("add-tag");
    const select = el("select", { id: selectId, name: "tag" }, missing.map((tag) => el("option", { value: tag }, tag)));
    const add = el("button", { type: "submit" }, "Add tag");
    const addForm = el(
      "form",
      { class: "org-form org-form-inline" },
      el("div", { class: "org-field" }, el("label", { for: selectId }, `Add a tag to ${t.name}`), select),
      add,
    );
    addForm.hidden = missing.length === 0;
    addForm.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(sec, add, async () => {
        const tag = select.value;
        await api.send("POST", `${path}/tags`, { tag });
        await load();
        sec.say(`Tagged ${t.name} with ${tag}.`);
      });
    });
    const item = el("li", { class: "org-template", "data-template": t.id }, head, chips, addForm);

    /** The whole template in a form: its name, spec, default configuration and tags. */
    function editAll() {
      if (item.querySelector(".org-template-form")) return;
      const close = () => {
        made.form.remove();
        chips.hidden = false;
        addForm.hidden = missing.length === 0;
        edit.setAttribute("aria-expanded", "false");
        edit.focus();
      };
      const made = templateForm(api, kind, t, tags, async (saved) => {
        await load();
        sec.say(`Saved ${saved.name}.`);
        const again = sec.body.querySelector(`[data-template="${saved.id}"] .org-edit`);
        (again || sec.status).focus();
      }, close);
      chips.hidden = true;
      addForm.hidden = true;
      edit.setAttribute("aria-expanded", "true");
      item.append(made.form);
      made.focus();
    }

    function editName() {
      const inputId = uid("name");
      const input = el("input", { id: inputId, name: "name", type: "text", value: t.name, required: true, maxlength: "200" });
      const save = el("button", { type: "submit" }, "Save");
      const cancel = button("Cancel", () => {
        form.replaceWith(head);
        rename.focus();
      });
      const form = el("form", { class: "org-form org-form-inline" }, el("div", { class: "org-field" }, el("label", { for: inputId }, `New name of ${t.name}`), input), save, cancel);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        busy(sec, save, async () => {
          await api.send("PATCH", path, { name: input.value.trim() });
          await load();
          sec.say("Renamed.");
        });
      });
      head.replaceWith(form);
      input.focus();
      input.select();
    }
    return item;
  }

  tagForm.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(sec, create, async () => {
      const name = tagInput.value.trim();
      await api.send("POST", `${TEMPLATES}/tags`, { name });
      tagInput.value = "";
      await load();
      sec.say(`Tag ${name} created.`);
      tagInput.focus();
    });
  });
  return { sec, load };
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/** A button that asks again inline before `action`: no modal dialog, keyboard friendly. */
function confirming(label, question, action, attrs = {}) {
  const wrap = el("span", { class: "org-confirm" });
  const first = button(label, () => {
    const yes = button(`Yes, ${label.toLowerCase()}`, async () => {
      yes.disabled = true;
      await action();
    }, { class: "org-danger" });
    const no = button("Cancel", () => {
      wrap.replaceChildren(first);
      first.focus();
    });
    wrap.replaceChildren(el("span", { class: "org-question" }, question), yes, no);
    no.focus();
  }, attrs);
  wrap.append(first);
  return wrap;
}

function keysSection(api) {
  const sec = section("Org keys", "org-keys");
  const expiresId = uid("expires");
  const expires = el("input", { id: expiresId, name: "expires_at", type: "datetime-local" });
  const create = el("button", { type: "submit" }, "Create key");
  const form = el(
    "form",
    { class: "org-form", "aria-label": "Create an org key" },
    el("div", { class: "org-field" }, el("label", { for: expiresId }, "Expires (optional, your local time)"), expires),
    create,
  );
  const fresh = el("div", { class: "org-fresh" });
  const list = el("div");
  sec.body.append(form, fresh, list);

  async function load() {
    const keys = (await api.get(`${ORG}/keys`)).data || [];
    list.replaceChildren(
      table(
        "Org keys, oldest first",
        ["Key", "Created", "Expires", "Last used", "State", ""],
        keys.map((k) =>
          el(
            "tr",
            { "data-key": k.id },
            el("td", { class: "org-mono" }, `${k.prefix}…`),
            el("td", { class: "org-nowrap" }, when(k.created_at)),
            el("td", { class: "org-nowrap" }, k.expires_at ? when(k.expires_at) : "never"),
            el("td", { class: "org-nowrap" }, when(k.last_used_at)),
            el("td", {}, k.revoked_at ? `revoked ${when(k.revoked_at)}` : "active"),
            el(
              "td",
              {},
              k.revoked_at
                ? ""
                : confirming("Revoke", `Revoke ${k.prefix}…? It stops working at once.`, () =>
                    busy(sec, create, async () => {
                      await api.send("DELETE", `${ORG}/keys/${encodeURIComponent(k.id)}`);
                      fresh.replaceChildren();
                      await load();
                      sec.say(`Key ${k.prefix}… revoked.`);
                    }), { "aria-label": `Revoke key ${k.prefix}` }),
            ),
          ),
        ),
      ),
    );
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(sec, create, async () => {
      const body = {};
      if (expires.value) body.expires_at = new Date(expires.value).toISOString();
      const made = await api.send("POST", `${ORG}/keys`, body);
      expires.value = "";
      showSecret(made);
      await load();
    });
  });

  function showSecret(made) {
    const secretId = uid("secret");
    const secret = el("input", { id: secretId, type: "text", readonly: true, class: "org-mono org-secret", value: made.secret, spellcheck: "false", autocomplete: "off" });
    const note = el("p", { class: "org-hint", role: "status" });
    const copy = button("Copy", async () => {
      secret.select();
      try {
        await navigator.clipboard.writeText(secret.value);
        note.textContent = "Copied.";
      } catch {
        note.textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
      }
    });
    const done = button("Done", () => {
      fresh.replaceChildren();
      create.focus();
    });
    fresh.replaceChildren(
      el(
        "div",
        { class: "org-secret-box" },
        el("p", {}, el("strong", {}, "Copy the new key now: it is not shown again."), " Keep it like a password."),
        el("div", { class: "org-field" }, el("label", { for: secretId }, `New key ${made.key.prefix}…`), secret),
        el("div", { class: "org-row" }, copy, done),
        note,
      ),
    );
    secret.focus();
    secret.select();
  }
  return { sec, load };
}

function signingSection(api) {
  const sec = section("Signing keys", "org-signing");
  const rotate = el("button", { type: "button" }, "Rotate");
  const list = el("div");
  sec.body.append(
    el("p", { class: "org-note" }, "These keys sign customers' scoped tokens. Rotating makes a new signer; older keys keep verifying until their last token expires. Retire a key that may have leaked: its tokens stop working at once."),
    el("div", { class: "org-row" }, rotate),
    list,
  );

  async function load() {
    const keys = (await api.get(`${ORG}/signing-keys`)).data || [];
    list.replaceChildren(
      table(
        "Signing keys, newest first",
        ["Key id", "Algorithm", "Created", "Verifies until", ""],
        keys.map((k) =>
          el(
            "tr",
            { "data-kid": k.kid },
            el("td", { class: "org-mono org-id" }, k.kid, k.signer ? el("span", { class: "org-badge" }, "signer") : ""),
            el("td", {}, k.algorithm),
            el("td", { class: "org-nowrap" }, when(k.created_at)),
            el("td", { class: "org-nowrap" }, k.retire_at ? when(k.retire_at) : "—"),
            el(
              "td",
              {},
              confirming(
                "Retire",
                k.signer ? "Retire the signer? A new key signs, and tokens signed by this one stop working." : "Retire this key? Its tokens stop working at once.",
                () =>
                  busy(sec, rotate, async () => {
                    await api.send("DELETE", `${ORG}/signing-keys/${encodeURIComponent(k.kid)}`);
                    await load();
                    sec.say(`Key ${k.kid} retired.`);
                  }),
                { "aria-label": `Retire signing key ${k.kid}` },
              ),
            ),
          ),
        ),
      ),
    );
  }

  rotate.addEventListener("click", () =>
    busy(sec, rotate, async () => {
      const made = await api.send("POST", `${ORG}/signing-keys/rotate`);
      await load();
      sec.say(`New signer ${made.kid}.`);
    }),
  );
  return { sec, load };
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

/** Draws the organization page into `root`, each section loading on its own. */
export async function renderOrganization(root, api) {
  const numbers = section("Overview", "org-numbers");
  const audit = auditSection(api);
  const templates = templatesSection(api);
  const keys = keysSection(api);
  const signing = signingSection(api);
  const nav = el(
    "nav",
    { class: "org-toc", "aria-label": "On this page" },
    el(
      "ul",
      {},
      [
        ["#org-numbers", "Overview"],
        ["#org-audit", "Audit log"],
        ["#org-templates", "Templates and tags"],
        ["#org-keys", "Org keys"],
        ["#org-signing", "Signing keys"],
      ].map(([href, text]) => {
        const a = el("a", { href }, text);
        // The shell routes on the hash: scroll to the section without changing it.
        a.addEventListener("click", (event) => {
          event.preventDefault();
          const target = root.querySelector(href);
          if (target) {
            target.scrollIntoView();
            target.querySelector("h2")?.focus?.();
          }
        });
        return el("li", {}, a);
      }),
    ),
  );
  root.replaceChildren(
    el(
      "div",
      { class: "org-page" },
      el("h1", {}, "Organization"),
      nav,
      numbers.node,
      audit.sec.node,
      templates.sec.node,
      keys.sec.node,
      signing.sec.node,
    ),
  );
  for (const h of root.querySelectorAll(".org-section h2")) h.setAttribute("tabindex", "-1");
  const loads = [
    [numbers, () => loadNumbers(numbers, api)],
    [audit.sec, audit.load],
    [templates.sec, templates.load],
    [keys.sec, keys.load],
    [signing.sec, signing.load],
  ].map(([sec, load]) => load().catch((err) => sec.fail(err)));
  await Promise.all(loads);
}
