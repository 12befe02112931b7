// The organization's dashboard: sign-in, the workspaces list and a workspace's page.
//
// Plain ES module, no framework. Every element is made with createElement and filled with
// textContent: external ids, names and errors come from customers and are never parsed as
// HTML. The org key is sent once, to POST /api/v1/dashboard/session, and never stored; the
// session is an HttpOnly cookie, and the CSRF token lives in this module's memory only (a
// reload asks GET /api/v1/dashboard/session for it again).

import { renderOrganization } from './org.js';

const PAGE_SIZE = 25;
const RUNS = 30;

let csrf = null;
let organization = null;
// What the last action did, said at the top of the next page drawn.
let notice = null;

/** Draws the current page again, saying `text` at its top. */
function redraw(text) {
  notice = text;
  route();
}

/** An error carrying the problem document of a failed call. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `request failed (${status})`);
    this.status = status;
    this.problem = problem;
  }
}

async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith('/api/v1/dashboard/session')) {
      signedOut('Your session ended. Sign in again.');
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

/** What the dashboard's pages call the API with (the organization page uses it too). */
export const api = {
  get: (path) => request('GET', path),
  send: (method, path, body) => request(method, path, body),
};

// ---------------------------------------------------------------- small DOM helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child);
  return node;
}

const $ = (id) => document.getElementById(id);

function number(n) {
  return Number(n || 0).toLocaleString('en-US');
}

function bytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = Number(n || 0);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function duration(ms) {
  if (ms === null || ms === undefined) return 'running';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function badge(status) {
  const text = status || 'never';
  return el('span', { class: `badge badge-${text}`, text });
}

function message(error) {
  if (error instanceof ApiError) return error.message;
  return 'The server could not be reached.';
}

/** A live region at the top of a page for what an action did. */
function flash(root) {
  const node = el('p', { class: 'flash', role: 'status', 'aria-live': 'polite', id: 'flash' });
  node.hidden = true;
  root.append(node);
  if (notice) {
    node.textContent = notice;
    node.className = 'flash ok';
    node.hidden = false;
    notice = null;
  }
  return {
    ok(text) {
      node.textContent = text;
      node.className = 'flash ok';
      node.hidden = false;
    },
    fail(text) {
      node.textContent = text;
      node.className = 'flash fail';
      node.hidden = false;
    },
  };
}

// ---------------------------------------------------------------- session

function showSignIn(error) {
  csrf = null;
  organization = null;
  $('nav').hidden = true;
  $('sign-out').hidden = true;
  $('org-name').textContent = '';
  $('view').replaceChildren();
  $('sign-in-view').hidden = false;
  const box = $('sign-in-error');
  box.hidden = !error;
  box.textContent = error || '';
  const first = $('mode-key').checked ? $('org-key') : $('client-id');
  first.focus();
}

function signedOut(why) {
  showSignIn(why);
}

function signedIn(session) {
  csrf = session.csrf_token;
  organization = session.organization;
  $('sign-in-view').hidden = true;
  $('nav').hidden = false;
  $('sign-out').hidden = false;
  $('org-name').textContent = organization.name;
  route();
}

function setupSignIn() {
  const mode = () => ($('mode-client').checked ? 'client' : 'key');
  const toggle = () => {
    $('sign-in').hidden = mode() !== 'key';
    $('sign-in-client').hidden = mode() !== 'client';
  };
  $('mode-key').addEventListener('change', toggle);
  $('mode-client').addEventListener('change', toggle);
  const submit = async (event) => {
    event.preventDefault();
    const body = mode() === 'key'
      ? { org_key: $('org-key').value.trim() }
      : { client_id: $('client-id').value.trim(), client_secret: $('client-secret').value.trim() };
    const error = $('sign-in-error');
    error.hidden = true;
    try {
      const session = await api.send('POST', '/api/v1/dashboard/session', body);
      // The key leaves the page at once.
      $('org-key').value = '';
      $('client-secret').value = '';
      if (!location.hash) location.hash = '#/workspaces';
      signedIn(session);
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401
        ? 'Those credentials were not accepted. Check the key and try again.'
        : message(e);
      error.hidden = false;
    }
  };
  $('sign-in').addEventListener('submit', submit);
  $('sign-in-client').addEventListener('submit', submit);
  $('sign-out').addEventListener('click', async () => {
    try {
      await api.send('DELETE', '/api/v1/dashboard/session');
    } catch {
      // Signed out either way.
    }
    showSignIn();
  });
}

// ---------------------------------------------------------------- routing

function route() {
  if (!csrf) return;
  const hash = location.hash || '#/workspaces';
  // A fresh container per page: a slower page still loading draws into its own, detached one.
  const view = el('div', { class: 'page' });
  $('view').replaceChildren(view);
  for (const link of document.querySelectorAll('[data-nav]')) {
    const current = hash.startsWith(`#/${link.dataset.nav}`);
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const workspace = /^#\/workspaces\/([0-9a-fA-F-]{36})$/.exec(hash);
  if (workspace) {
    renderWorkspace(view, workspace[1]);
  } else if (hash.startsWith('#/organization')) {
    document.title = 'Organization · Bulkhead';
    renderOrganization(view, api);
  } else {
    renderWorkspaces(view);
  }
}

// ---------------------------------------------------------------- the workspaces list

const list = { prefix: '', status: '', cursors: [null] };

function cursorOf(next) {
  if (!next) return null;
  return new URL(next, location.origin).searchParams.get('cursor');
}

async function renderWorkspaces(root) {
  document.title = 'Workspaces · Bulkhead';
  const heading = el('h1', { text: 'Workspaces' });
  const stats = el('dl', { class: 'stats', 'aria-label': 'Workspaces by status' });
  const note = flash(root);

  const search = el('input', {
    id: 'search', type: 'search', autocomplete: 'off', spellcheck: 'false', placeholder: 'cust_…',
  });
  search.value = list.prefix;
  const status = el('select', { id: 'status-filter' },
    el('option', { value: '', text: 'Any status' }),
    el('option', { value: 'active', text: 'Active' }),
    el('option', { value: 'inactive', text: 'Inactive' }));
  status.value = list.status;
  const form = el('form', { class: 'filters', role: 'search' },
    el('div', { class: 'field' }, el('label', { for: 'search', text: 'External id starts with' }), search),
    el('div', { class: 'field' }, el('label', { for: 'status-filter', text: 'Status' }), status),
    el('button', { class: 'button', type: 'submit', text: 'Search' }));
  const restart = () => {
    list.prefix = search.value;
    list.status = status.value;
    list.cursors = [null];
    load();
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    restart();
  });
  status.addEventListener('change', restart);

  const body = el('tbody');
  const table = el('table', { class: 'grid workspaces', id: 'workspaces' },
    el('caption', { class: 'visually-hidden', text: 'Workspaces of the organization' }),
    el('thead', {}, el('tr', {},
      ['External id', 'Status', 'Sources', 'Connections', 'Last sync', 'Rows (7 days)', 'Bytes (7 days)']
        .map((h, i) => el('th', { scope: 'col', class: i >= 2 && i !== 4 ? 'num' : null, text: h })))),
    body);
  const prev = el('button', { class: 'button', type: 'button', id: 'prev-page', text: '← Previous' });
  const next = el('button', { class: 'button', type: 'button', id: 'next-page', text: 'Next →' });
  const where = el('span', { class: 'muted', id: 'page-number' });
  prev.addEventListener('click', () => {
    if (list.cursors.length > 1) {
      list.cursors.pop();
      load();
    }
  });
  next.addEventListener('click', () => {
    if (next.dataset.cursor) {
      list.cursors.push(next.dataset.cursor);
      load();
    }
  });
  root.append(heading, stats, form, el('div', { class: 'scroll' }, table),
    el('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, where, next));

  api.get('/api/v1/workspaces/stats').then((s) => {
    stats.replaceChildren(
      ...[['Active', s.active_count], ['Inactive', s.inactive_count], ['Total', s.total_count]]
        .map(([label, n]) => el('div', { class: 'stat' }, el('dt', { text: label }), el('dd', { text: number(n) }))),
    );
  }).catch((e) => note.fail(message(e)));

  async function load() {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (list.prefix) query.set('external_id_prefix', list.prefix);
    if (list.status) query.set('status', list.status);
    const cursor = list.cursors[list.cursors.length - 1];
    if (cursor) query.set('cursor', cursor);
    body.setAttribute('aria-busy', 'true');
    try {
      const page = await api.get(`/api/v1/workspaces/overview?${query}`);
      body.replaceChildren(...page.data.map(row));
      if (page.data.length === 0) {
        body.append(el('tr', {}, el('td', { colspan: 7, class: 'empty', text: 'No workspace matches.' })));
      }
      const nextCursor = cursorOf(page.next);
      next.disabled = !nextCursor;
      next.dataset.cursor = nextCursor || '';
      prev.disabled = list.cursors.length <= 1;
      where.textContent = `Page ${list.cursors.length}`;
    } catch (e) {
      note.fail(message(e));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function row(w) {
    const last = w.last_sync;
    const cells = [
      ['External id', el('a', { href: `#/workspaces/${w.workspace_id}`, class: 'ext', text: w.external_id })],
      ['Status', badge(w.status)],
      ['Sources', number(w.sources)],
      ['Connections', number(w.connections)],
      ['Last sync', last ? el('span', {}, badge(last.status), ' ', el('time', { datetime: last.started_at, text: when(last.started_at) })) : el('span', { class: 'muted', text: 'never' })],
      ['Rows (7 days)', number(w.rows_7d)],
      ['Bytes (7 days)', bytes(w.bytes_7d)],
    ];
    return el('tr', { 'data-workspace': w.workspace_id },
      cells.map(([label, value], i) => el('td', { 'data-label': label, class: i >= 2 && i !== 4 ? 'num' : null }, value)));
  }

  load();
}

// ---------------------------------------------------------------- a workspace

async function renderWorkspace(root, id) {
  const back = el('a', { href: '#/workspaces', class: 'back', text: '← All workspaces' });
  root.append(back);
  let workspace;
  try {
    workspace = await api.get(`/api/v1/workspaces/${id}`);
  } catch (e) {
    root.append(el('h1', { text: 'Workspace not found' }),
      el('p', { class: 'muted', text: e instanceof ApiError && e.status === 404 ? 'There is no such workspace in this organization.' : message(e) }));
    return;
  }
  document.title = `${workspace.external_id} · Bulkhead`;
  const note = flash(root);
  const head = el('div', { class: 'page-head' },
    el('div', {},
      el('h1', { id: 'workspace-title' }, workspace.external_id, ' ', badge(workspace.status)),
      el('p', { class: 'muted' }, workspace.name, ' · ', el('code', { text: workspace.id }))));
  const actions = el('div', { class: 'actions', role: 'group', 'aria-label': 'Workspace actions' });
  head.append(actions);
  root.append(head);

  const active = workspace.status === 'active';
  const toggle = el('button', {
    class: 'button', type: 'button', id: 'toggle-status', text: active ? 'Deactivate' : 'Reactivate',
  });
  toggle.addEventListener('click', async () => {
    toggle.disabled = true;
    try {
      await api.send('PATCH', `/api/v1/workspaces/${id}`, { status: active ? 'inactive' : 'active' });
      redraw(active
        ? 'Deactivated: its connections are paused and its tokens refused.'
        : 'Reactivated: the connections it paused run again.');
    } catch (e) {
      note.fail(message(e));
      toggle.disabled = false;
    }
  });
  const revoke = el('button', { class: 'button', type: 'button', id: 'revoke-tokens', text: 'Revoke all tokens' });
  revoke.addEventListener('click', () => confirmDialog({
    title: 'Revoke all tokens?',
    text: `Every scoped token issued to ${workspace.external_id} until now stops working. New tokens work.`,
    action: 'Revoke tokens',
    run: async () => {
      await api.send('POST', `/api/v1/workspaces/${id}/revoke-tokens`);
      note.ok('Every token issued until now is revoked.');
    },
  }));
  const merge = el('button', { class: 'button', type: 'button', id: 'merge', text: 'Merge a duplicate…' });
  merge.addEventListener('click', () => mergeDialog(workspace));
  const remove = el('button', { class: 'button danger', type: 'button', id: 'delete', text: 'Delete…' });
  remove.addEventListener('click', () => deleteDialog(workspace));
  actions.append(toggle, revoke, merge, remove);

  const sections = {
    connections: section(root, 'Connections', 'connections'),
    chart: section(root, `Last ${RUNS} sync runs`, 'runs'),
    sources: section(root, 'Sources', 'sources'),
    destinations: section(root, 'Destinations', 'destinations'),
    audit: section(root, 'Audit events', 'audit'),
  };

  const q = `workspaceIds=${encodeURIComponent(id)}&limit=100`;
  const [sources, destinations, connections, runs, overview] = await Promise.all([
    api.get(`/v1/sources?${q}`).catch((e) => e),
    api.get(`/v1/destinations?${q}`).catch((e) => e),
    api.get(`/v1/connections?${q}`).catch((e) => e),
    api.get(`/api/v1/workspaces/${id}/runs?limit=${RUNS}`).catch((e) => e),
    api.get(`/api/v1/workspaces/overview?limit=1&external_id_prefix=${encodeURIComponent(workspace.external_id)}`).catch((e) => e),
  ]);

  const lastRuns = new Map();
  if (!(overview instanceof Error) && overview.data[0] && overview.data[0].workspace_id === id) {
    for (const c of overview.data[0].latest_runs) lastRuns.set(c.connection_id, c.last_run);
  }
  const names = new Map();
  if (!(sources instanceof Error)) for (const s of sources.data) names.set(s.sourceId, s.name);
  if (!(destinations instanceof Error)) for (const d of destinations.data) names.set(d.destinationId, d.name);

  fill(sections.sources, sources, ['Name', 'Connector', 'Id'],
    (s) => [s.name, s.sourceType, el('code', { text: s.sourceId })], 'No sources yet.');
  fill(sections.destinations, destinations, ['Name', 'Connector', 'Id'],
    (d) => [d.name, d.destinationType, el('code', { text: d.destinationId })], 'No destinations yet.');
  fill(sections.connections, connections, ['Name', 'From → to', 'Status', 'Last sync', ''],
    (c) => {
      const last = lastRuns.get(c.connectionId);
      const sync = el('button', { class: 'button small', type: 'button', 'data-sync': c.connectionId, text: 'Sync now' });
      sync.setAttribute('aria-label', `Sync ${c.name} now`);
      sync.addEventListener('click', async () => {
        sync.disabled = true;
        try {
          await api.send('POST', '/v1/jobs', { connectionId: c.connectionId, jobType: 'sync' });
          redraw(`A sync of ${c.name} is queued for a worker.`);
        } catch (e) {
          note.fail(message(e));
          sync.disabled = false;
        }
      });
      return [
        c.name,
        `${names.get(c.sourceId) || 'source'} → ${names.get(c.destinationId) || 'destination'}`,
        badge(c.status),
        last ? el('span', {}, badge(last.status), ' ', when(last.started_at)) : el('span', { class: 'muted', text: 'never' }),
        sync,
      ];
    }, 'No connections yet.');
  if (runs instanceof Error) sections.chart.append(el('p', { class: 'muted', text: message(runs) }));
  else chart(sections.chart, runs.data);
  audit(sections.audit, id);
}

function section(root, title, key) {
  const headingId = `section-${key}`;
  const node = el('section', { class: 'card', id: key, 'aria-labelledby': headingId },
    el('h2', { id: headingId, text: title }));
  root.append(node);
  return node;
}

function fill(node, result, headers, cells, empty) {
  if (result instanceof Error) {
    node.append(el('p', { class: 'muted', text: message(result) }));
    return;
  }
  if (result.data.length === 0) {
    node.append(el('p', { class: 'muted empty', text: empty }));
    return;
  }
  node.append(el('div', { class: 'scroll' }, el('table', { class: 'grid' },
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, result.data.map((item) => el('tr', {},
      cells(item).map((value, i) => el('td', { 'data-label': headers[i] || null }, value))))))));
}

/** An SVG bar chart of the runs, oldest on the left; failed runs red and labelled. */
function chart(node, runs) {
  if (runs.length === 0) {
    node.append(el('p', { class: 'muted empty', text: 'No sync has run yet.' }));
    return;
  }
  const measure = el('select', { id: 'chart-measure' },
    el('option', { value: 'duration', text: 'Duration' }),
    el('option', { value: 'rows', text: 'Rows' }));
  const holder = el('div', { class: 'chart' });
  const failed = runs.filter((r) => r.error).length;
  const summary = el('p', { class: 'muted', id: 'chart-summary' },
    `${runs.length} runs, ${failed} failed. `,
    el('span', { class: 'key ok', 'aria-hidden': 'true' }), ' succeeded ',
    el('span', { class: 'key failed', 'aria-hidden': 'true' }), ' failed ',
    el('span', { class: 'key running', 'aria-hidden': 'true' }), ' pending, running or cancelled');
  node.append(el('div', { class: 'field inline' }, el('label', { for: 'chart-measure', text: 'Bar height' }), measure), holder, summary);
  const draw = () => {
    const ordered = [...runs].reverse();
    const value = (r) => (measure.value === 'rows' ? r.rows : (r.duration_ms || 0));
    const max = Math.max(1, ...ordered.map(value));
    const width = 900;
    const height = 170;
    const gap = 4;
    const bar = Math.max(4, (width - gap * (RUNS + 1)) / RUNS);
    const plot = svg('svg', {
      viewBox: `0 0 ${width} ${height + 20}`,
      role: 'img',
      'aria-label': `Last ${runs.length} sync runs by ${measure.value}; ${failed} failed`,
      id: 'runs-chart',
    });
    plot.append(svg('line', { x1: 0, y1: height, x2: width, y2: height, class: 'axis' }));
    const top = svg('text', { x: width - 4, y: 12, class: 'scale', 'text-anchor': 'end' });
    top.textContent = `max ${measure.value === 'rows' ? `${number(max)} rows` : duration(max)}`;
    plot.append(top);
    ordered.forEach((r, i) => {
      const h = Math.max(2, (value(r) / max) * (height - 10));
      const x = gap + i * (bar + gap);
      const kind = r.error ? 'failed' : (r.status === 'succeeded' ? 'ok' : 'running');
      const label = `${r.error ? 'Failed' : r.status} run, started ${when(r.started_at)}, ${duration(r.duration_ms)}, ${number(r.rows)} rows`;
      const rect = svg('rect', { x, y: height - h, width: bar, height: h, class: `bar ${kind}`, 'data-status': r.status },
        svg('title', {}, document.createTextNode(label)));
      plot.append(rect);
      if (r.error) {
        const mark = svg('text', { x: x + bar / 2, y: height + 14, class: 'mark', 'text-anchor': 'middle' });
        mark.textContent = '✕';
        plot.append(mark);
      }
    });
    holder.replaceChildren(plot);
  };
  measure.addEventListener('change', draw);
  draw();
}

async function audit(node, id) {
  try {
    const events = await api.get(`/api/v1/organization/audit?workspace_id=${encodeURIComponent(id)}&limit=20`);
    // Read loosely: the organization page's own audit route answers this call once merged.
    const items = (events && (events.data || events.events || events.items)) || [];
    if (items.length === 0) {
      node.append(el('p', { class: 'muted empty', text: 'No audit events.' }));
      return;
    }
    node.append(el('ol', { class: 'events' }, items.map((e) => el('li', {},
      el('time', { datetime: e.at || e.occurred_at || '', text: when(e.at || e.occurred_at) }), ' ',
      el('strong', { text: e.action || '' }), ' ',
      el('span', { class: 'muted', text: `${e.actor || ''} · ${e.outcome || ''}` })))));
  } catch (e) {
    node.append(el('p', { class: 'muted empty', text: e instanceof ApiError && e.status === 404 ? 'No audit events.' : message(e) }));
  }
}

// ---------------------------------------------------------------- dialogs

/** A modal dialog: `build(body, submit)` fills it; `run` is the confirmed action. */
function dialog({ title, action, danger, build, run }) {
  const error = el('p', { class: 'error', role: 'alert' });
  error.hidden = true;
  const submit = el('button', { class: `button ${danger ? 'danger' : 'primary'}`, type: 'submit', text: action });
  const cancel = el('button', { class: 'button quiet', type: 'button', text: 'Cancel' });
  const body = el('div', { class: 'dialog-body' });
  const form = el('form', { method: 'dialog' }, el('h2', { text: title }), body, error,
    el('div', { class: 'dialog-actions' }, cancel, submit));
  const box = el('dialog', { class: 'dialog' }, form);
  build(body, submit);
  cancel.addEventListener('click', () => box.close());
  box.addEventListener('close', () => box.remove());
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    try {
      await run();
      box.close();
    } catch (e) {
      error.textContent = message(e);
      error.hidden = false;
      submit.disabled = false;
    }
  });
  document.body.append(box);
  box.showModal();
  return box;
}

function confirmDialog({ title, text, action, run }) {
  dialog({ title, action, build: (body) => body.append(el('p', { text })), run });
}

function deleteDialog(workspace) {
  dialog({
    title: 'Delete this workspace?',
    action: 'Delete workspace',
    danger: true,
    build: (body, submit) => {
      const input = el('input', { id: 'confirm-external-id', type: 'text', autocomplete: 'off', spellcheck: 'false' });
      body.append(
        el('p', {}, 'Its sources, destinations, connections and history become unreachable, and its tokens stop working. Type the external id ',
          el('code', { text: workspace.external_id }), ' to confirm.'),
        el('div', { class: 'field' }, el('label', { for: 'confirm-external-id', text: 'External id' }), input));
      submit.disabled = true;
      input.addEventListener('input', () => {
        submit.disabled = input.value !== workspace.external_id;
      });
      setTimeout(() => input.focus(), 0);
    },
    run: async () => {
      const typed = document.getElementById('confirm-external-id').value;
      if (typed !== workspace.external_id) throw new ApiError(400, { detail: 'The external id does not match.' });
      await api.send('DELETE', `/api/v1/workspaces/${workspace.id}`);
      notice = `Workspace ${workspace.external_id} deleted.`;
      location.hash = '#/workspaces';
    },
  });
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function mergeDialog(workspace) {
  dialog({
    title: 'Merge a duplicate into this workspace',
    action: 'Merge',
    build: (body) => {
      const input = el('input', { id: 'merge-from', type: 'text', autocomplete: 'off', spellcheck: 'false' });
      body.append(
        el('p', {}, 'Everything of the duplicate (sources, destinations, connections, sync history) moves into ',
          el('code', { text: workspace.external_id }), '; the duplicate is then deleted and its external id leads here.'),
        el('div', { class: 'field' }, el('label', { for: 'merge-from', text: 'Duplicate workspace (id or external id)' }), input));
      setTimeout(() => input.focus(), 0);
    },
    run: async () => {
      const from = document.getElementById('merge-from').value.trim();
      if (!from) throw new ApiError(400, { detail: 'Name the duplicate workspace.' });
      const body = UUID.test(from) ? { from_workspace_id: from } : { from_external_id: from };
      const report = await api.send('POST', `/api/v1/workspaces/${workspace.id}/merge`, body);
      const count = (n, one, many) => `${number(n)} ${n === 1 ? one : many}`;
      redraw(`Merged: ${count(report.sources, 'source', 'sources')}, ${count(report.connections, 'connection', 'connections')} and ${count(report.sync_runs, 'run', 'runs')} moved here.`);
    },
  });
}

// ---------------------------------------------------------------- start

async function start() {
  setupSignIn();
  window.addEventListener('hashchange', route);
  try {
    const session = await api.get('/api/v1/dashboard/session');
    signedIn(session);
  } catch {
    showSignIn();
  }
}

start();
