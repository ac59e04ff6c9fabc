// The history UI: plain JavaScript over the REST API of this server. The page's state
// is its URL (`/ui?view=runs&ns=ci&filter=…`), so a view can be shared; the bearer token
// (if the server checks callers) is kept for the tab in sessionStorage and sent with every
// call. No dependencies, no build step.
'use strict';

const API = '/apis/results.tekton.dev/v1alpha2';
const PAGE_SIZE = 20;
const RUN_TYPES = 'data_type in [PIPELINE_RUN, TASK_RUN]';
const STATUSES = ['SUCCESS', 'FAILURE', 'TIMEOUT', 'CANCELLED', 'UNKNOWN'];
/** The CEL that selects runs of each status (the reason of the Succeeded condition). */
const STATUS_FILTERS = {
  SUCCESS: 'data.status.conditions[0].status == "True"',
  FAILURE: 'data.status.conditions[0].status == "False" && !(data.status.conditions[0].reason in ["TaskRunTimeout", "PipelineRunTimeout"]) && !data.status.conditions[0].reason.contains("Cancelled")',
  TIMEOUT: 'data.status.conditions[0].reason in ["TaskRunTimeout", "PipelineRunTimeout"]',
  CANCELLED: 'data.status.conditions[0].status == "False" && data.status.conditions[0].reason.contains("Cancelled")',
  UNKNOWN: 'data.status.conditions[0].status == "Unknown"',
};

const view = document.getElementById('view');
let liveStream = null; // the AbortController of the open watch stream, if any

// ---------- small helpers ----------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children.flat(Infinity)) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The URL of the UI with `params` (empty values left out). */
function uiUrl(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return '/ui' + (s ? '?' + s : '');
}

function link(params, text) {
  return el('a', { href: uiUrl(params), 'data-nav': true }, text);
}

function state() {
  return Object.fromEntries(new URLSearchParams(location.search));
}

function go(params, replace = false) {
  const url = uiUrl(params);
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

function token() {
  return sessionStorage.getItem('results-token') || '';
}

function headers(extra = {}) {
  const h = { ...extra };
  if (token()) h.Authorization = 'Bearer ' + token();
  return h;
}

/** An API error: HTTP status, gRPC code and the server's message. */
class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

async function api(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const url = API + path + (q.toString() ? '?' + q : '');
  const response = await fetch(url, { headers: headers() });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = { message: text }; }
  if (!response.ok) {
    const error = new ApiError(response.status, body);
    showAuthError(error);
    throw error;
  }
  hideAuthError();
  return body;
}

function showAuthError(error) {
  if (error.status !== 401 && error.status !== 403) return;
  const banner = document.getElementById('auth-error');
  banner.textContent = error.status === 401
    ? `Not signed in (401): ${error.message}. Paste a bearer token above.`
    : `Not allowed (403): ${error.message}`;
  banner.hidden = false;
}

function hideAuthError() {
  document.getElementById('auth-error').hidden = true;
}

function errorBox(error, cls = '') {
  return el('div', { class: 'error ' + cls, role: 'alert' }, error.message || String(error));
}

// ---------- runs: what a run record says ----------

function condition(data) {
  const conditions = (data.status && data.status.conditions) || [];
  return conditions.find((c) => c.type === 'Succeeded') || conditions[0] || {};
}

function runStatus(data) {
  const c = condition(data);
  if (c.status === 'True') return 'SUCCESS';
  if (c.status === 'False') {
    if (c.reason === 'TaskRunTimeout' || c.reason === 'PipelineRunTimeout') return 'TIMEOUT';
    if ((c.reason || '').includes('Cancelled')) return 'CANCELLED';
    return 'FAILURE';
  }
  return 'UNKNOWN';
}

const SUMMARY_STATUS = ['UNKNOWN', 'SUCCESS', 'FAILURE', 'TIMEOUT', 'CANCELLED'];

function statusBadge(status) {
  return el('span', { class: 'status ' + status }, status.toLowerCase());
}

function duration(start, end) {
  if (!start) return '';
  const ms = (end ? Date.parse(end) : Date.now()) - Date.parse(start);
  if (!(ms >= 0)) return '';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + sec + 's' + (end ? '' : ' …');
}

function when(time) {
  if (!time) return '';
  const d = new Date(time);
  return isNaN(d) ? time : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function decode(record) {
  try {
    const bytes = Uint8Array.from(atob(record.data.value), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (_) {
    return {};
  }
}

function parts(recordName) {
  // <ns>/results/<result>/records/<record>
  const p = recordName.split('/');
  return { ns: p[0], result: p[2], record: p[4] };
}

function runRow(record) {
  const data = decode(record);
  const { ns, result, record: name } = parts(record.name);
  const labels = (data.metadata && data.metadata.labels) || {};
  const status = data.status || {};
  return el('tr', { 'data-name': record.name },
    el('td', {}, link({ view: 'run', ns, result, record: name }, (data.metadata && data.metadata.name) || name)),
    el('td', {}, data.kind || record.data.type),
    el('td', {}, statusBadge(runStatus(data))),
    el('td', {}, when(status.startTime)),
    el('td', {}, duration(status.startTime, status.completionTime)),
    el('td', {}, labels['tekton.dev/pipeline'] ? link({ view: 'charts', ns, pipeline: labels['tekton.dev/pipeline'] }, labels['tekton.dev/pipeline']) : ''),
    el('td', {}, link({ view: 'result', ns, result }, result)));
}

// ---------- the filter: the box, quick filters, and the CEL they make ----------

function quote(s) {
  return JSON.stringify(s);
}

function runFilter(s) {
  const parts = [RUN_TYPES];
  if (s.filter) parts.push('(' + s.filter + ')');
  if (s.status && STATUS_FILTERS[s.status]) parts.push('(' + STATUS_FILTERS[s.status] + ')');
  if (s.pipeline) parts.push(`data.metadata.labels["tekton.dev/pipeline"] == ${quote(s.pipeline)}`);
  if (s.since) parts.push(`data.status.startTime >= timestamp(${quote(new Date(s.since).toISOString())})`);
  if (s.until) parts.push(`data.status.startTime < timestamp(${quote(new Date(s.until).toISOString())})`);
  return parts.join(' && ');
}

/**
 * The server's refusal of a filter, its offset turned into one in the text the user typed
 * (the UI sends `<run types> && (<typed>) && <quick filters>`), with a caret under it.
 */
function filterError(error, s) {
  const prefix = RUN_TYPES.length + ' && ('.length;
  const box = errorBox(error, 'filter-error');
  const at = /\(at offset (\d+)\)/.exec(error.message || '');
  if (s.filter && at) {
    const offset = Number(at[1]) - prefix;
    if (offset >= 0 && offset <= s.filter.length) {
      box.textContent = error.message.replace(at[0], `(at offset ${offset} of your filter)`);
      box.append('\n' + s.filter + '\n' + ' '.repeat(offset) + '^');
    }
  }
  return box;
}

function filterForm(s) {
  const form = el('form', { class: 'filters', id: 'filters' },
    el('label', {}, 'CEL filter',
      el('input', { name: 'filter', value: s.filter || '', placeholder: 'data.metadata.name.startsWith("build")' })),
    el('label', {}, 'Status',
      el('select', { name: 'status' }, el('option', { value: '' }, 'any'),
        STATUSES.map((st) => el('option', { value: st, selected: s.status === st }, st.toLowerCase())))),
    el('label', {}, 'Pipeline', el('input', { name: 'pipeline', value: s.pipeline || '', size: 16 })),
    el('label', {}, 'Started from', el('input', { name: 'since', type: 'date', value: s.since || '' })),
    el('label', {}, 'until', el('input', { name: 'until', type: 'date', value: s.until || '' })),
    el('button', { type: 'submit' }, 'Apply'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(form);
    go({ ...s, filter: f.get('filter'), status: f.get('status'), pipeline: f.get('pipeline'),
      since: f.get('since'), until: f.get('until'), page: '', tokens: '' });
  });
  return form;
}

// ---------- views ----------

async function namespacesView() {
  view.replaceChildren(el('h1', {}, 'Namespaces'), el('p', { class: 'muted' }, 'Loading…'));
  const body = await api('/parents');
  const list = el('ul', { id: 'namespaces' },
    el('li', {}, link({ view: 'runs', ns: '-' }, 'all namespaces')),
    (body.parents || []).map((ns) => el('li', {}, link({ view: 'runs', ns }, ns))));
  view.replaceChildren(el('h1', {}, 'Namespaces'), list);
}

/**
 * Runs of a namespace, newest first, paged. `tokens` in the URL is the stack of page tokens
 * that led here, so Back and shared links land on the same page.
 */
async function runsView(s) {
  const tokens = s.tokens ? s.tokens.split(',') : [];
  const heading = el('h1', {}, s.ns === '-' ? 'Runs in all namespaces' : `Runs in ${s.ns}`,
    ' ', el('span', { class: 'live off', id: 'live' }, '●'),
    ' ', link({ view: 'charts', ns: s.ns, pipeline: s.pipeline }, 'charts'));
  const form = filterForm(s);
  const table = el('table', { id: 'runs' },
    el('thead', {}, el('tr', {}, ['Name', 'Kind', 'Status', 'Started', 'Duration', 'Pipeline', 'Result'].map((h) => el('th', {}, h)))),
    el('tbody'));
  view.replaceChildren(heading, form, table);
  let page;
  try {
    page = await api(`/parents/${encodeURIComponent(s.ns)}/results/-/records`, {
      filter: runFilter(s), order_by: 'create_time desc', page_size: PAGE_SIZE,
      page_token: tokens[tokens.length - 1] || '',
    });
  } catch (error) {
    // The server says what is wrong with the filter, and where.
    form.after(filterError(error, s));
    table.remove();
    return;
  }
  const rows = (page.records || []).map(runRow);
  table.tBodies[0].replaceChildren(...rows);
  if (!rows.length) table.after(el('p', { class: 'muted', id: 'empty' }, 'No runs.'));
  const pager = el('div', { class: 'pager' },
    tokens.length ? el('a', { href: uiUrl({ ...s, tokens: tokens.slice(0, -1).join(',') }), 'data-nav': true, id: 'newer' }, '← newer') : null,
    el('span', { id: 'page-number' }, `page ${tokens.length + 1}`),
    page.next_page_token ? el('a', { href: uiUrl({ ...s, tokens: [...tokens, page.next_page_token].join(',') }), 'data-nav': true, id: 'older' }, 'older →') : null);
  view.append(pager);
  if (!tokens.length) watchRuns(s, table.tBodies[0]);
}

/** New and changed runs appear at the top of the first page as they are stored. */
async function watchRuns(s, tbody) {
  const controller = new AbortController();
  liveStream = controller;
  const indicator = document.getElementById('live');
  let resume = '';
  while (!controller.signal.aborted) {
    try {
      const q = new URLSearchParams({ watch: 'true', filter: runFilter(s) });
      if (resume) q.set('resume_from', resume);
      const response = await fetch(`${API}/parents/${encodeURIComponent(s.ns)}/results/-/records?${q}`,
        { headers: headers({ Accept: 'application/x-ndjson' }), signal: controller.signal });
      if (!response.ok) return;
      indicator.className = 'live';
      indicator.title = 'live';
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffered = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        let newline;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim()) resume = onRunEvent(JSON.parse(line), tbody) || resume;
        }
      }
    } catch (_) {
      if (controller.signal.aborted) return;
    }
    indicator.className = 'live off';
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function onRunEvent(event, tbody) {
  if (event.type === 'ERROR') return null;
  if (event.type === 'ADDED' || event.type === 'MODIFIED') {
    const row = runRow(event.object);
    row.classList.add('fresh');
    const old = [...tbody.rows].find((r) => r.dataset.name === event.object.name);
    if (old) old.replaceWith(row);
    else {
      tbody.prepend(row);
      while (tbody.rows.length > PAGE_SIZE) tbody.lastElementChild.remove();
      const empty = document.getElementById('empty');
      if (empty) empty.remove();
    }
  } else if (event.type === 'DELETED') {
    const old = [...tbody.rows].find((r) => r.dataset.name === event.object.name);
    if (old) old.remove();
  }
  return event.revision;
}

async function resultView(s) {
  const name = `${s.ns}/results/${s.result}`;
  view.replaceChildren(el('h1', {}, `Result ${s.result}`));
  const [result, records] = await Promise.all([
    api(`/parents/${encodeURIComponent(s.ns)}/results/${encodeURIComponent(s.result)}`),
    api(`/parents/${encodeURIComponent(s.ns)}/results/${encodeURIComponent(s.result)}/records`, { order_by: 'create_time asc', page_size: 100 }),
  ]);
  view.append(summaryList(result));
  const table = el('table', { id: 'records' },
    el('thead', {}, el('tr', {}, ['Record', 'Type', 'Status', 'Started', 'Duration'].map((h) => el('th', {}, h)))),
    el('tbody', {}, (records.records || []).map((r) => {
      const data = decode(r);
      const { record } = parts(r.name);
      const isLog = (r.data.type || '').endsWith('.Log');
      return el('tr', {},
        el('td', {}, link({ view: 'run', ns: s.ns, result: s.result, record }, (data.metadata && data.metadata.name) || record)),
        el('td', {}, r.data.type),
        el('td', {}, isLog ? '' : statusBadge(runStatus(data))),
        el('td', {}, when(data.status && data.status.startTime)),
        el('td', {}, data.status ? duration(data.status.startTime, data.status.completionTime) : ''));
    })));
  view.append(el('h2', {}, 'Records'), table);
  void name;
}

function summaryList(result) {
  const summary = result.summary || {};
  const rows = [
    ['Name', result.name], ['UID', result.uid], ['Created', when(result.create_time)],
    ['Summary record', summary.record], ['Type', summary.type],
    ['Status', typeof summary.status === 'number' ? SUMMARY_STATUS[summary.status] : summary.status],
    ['Started', when(summary.start_time)], ['Ended', when(summary.end_time)],
    ['Duration', duration(summary.start_time, summary.end_time)],
  ];
  for (const [k, v] of Object.entries(result.annotations || {})) rows.push([`annotation ${k}`, v]);
  for (const [k, v] of Object.entries(summary.annotations || {})) rows.push([`summary annotation ${k}`, v]);
  return el('dl', { class: 'kv', id: 'summary' }, rows.filter(([, v]) => v).map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

async function runView(s) {
  const path = `/parents/${encodeURIComponent(s.ns)}/results/${encodeURIComponent(s.result)}`;
  const [result, record] = await Promise.all([
    api(path), api(`${path}/records/${encodeURIComponent(s.record)}`)]);
  const data = decode(record);
  const labels = (data.metadata && data.metadata.labels) || {};
  const status = data.status || {};
  view.replaceChildren(
    el('h1', {}, (data.metadata && data.metadata.name) || s.record, ' ', statusBadge(runStatus(data))),
    el('dl', { class: 'kv', id: 'run' },
      [['Kind', data.kind || record.data.type], ['Namespace', s.ns],
        ['Pipeline', labels['tekton.dev/pipeline']], ['Started', when(status.startTime)],
        ['Finished', when(status.completionTime)], ['Duration', duration(status.startTime, status.completionTime)],
        ['Reason', condition(data).reason], ['Message', condition(data).message]]
        .filter(([, v]) => v).map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
    el('h2', {}, 'Result'), summaryList(result),
    el('details', { id: 'json' }, el('summary', {}, 'Stored JSON'), el('pre', {}, JSON.stringify(data, null, 2))),
    el('h2', {}, 'Log'));
  const log = el('pre', { id: 'log' }, '');
  view.append(log);
  streamLog(`${API}${path}/logs/${encodeURIComponent(s.record)}`, log);
}

/** Appends the log to `pre` as it arrives (a log may be large: it is never buffered whole). */
async function streamLog(url, pre) {
  try {
    const response = await fetch(url, { headers: headers() });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      pre.textContent = response.status === 404 ? 'No log stored for this run.' : (body.message || `HTTP ${response.status}`);
      pre.classList.add('muted');
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pre.append(decoder.decode(value, { stream: true }));
    }
  } catch (error) {
    pre.textContent = String(error);
  }
}

/** Durations over time and success rate per day, from GetRecordListSummary by day. */
async function chartsView(s) {
  const ns = s.ns || '-';
  view.replaceChildren(el('h1', {}, `Charts: ${s.pipeline ? 'pipeline ' + s.pipeline : 'all pipelines'} in ${ns === '-' ? 'all namespaces' : ns}`));
  const form = el('form', { class: 'filters' },
    el('label', {}, 'Pipeline', el('input', { name: 'pipeline', value: s.pipeline || '' })),
    el('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    go({ ...s, pipeline: new FormData(form).get('pipeline') });
  });
  view.append(form);
  const filter = ['data_type == PIPELINE_RUN'];
  if (s.pipeline) filter.push(`data.metadata.labels["tekton.dev/pipeline"] == ${quote(s.pipeline)}`);
  let body;
  try {
    body = await api(`/parents/${encodeURIComponent(ns)}/results/-/records/summary`, {
      summary: 'total,succeeded,failed,avg_duration', group_by: 'day',
      filter: filter.join(' && '),
    });
  } catch (error) {
    view.append(errorBox(error));
    return;
  }
  const days = (body.summary || []).map((row) => ({
    day: new Date(Number(row.group_value) * 1000),
    total: Number(row.total || 0), succeeded: Number(row.succeeded || 0), failed: Number(row.failed || 0),
    avg: seconds(row.avg_duration),
  })).sort((a, b) => a.day - b.day);
  if (!days.length) {
    view.append(el('p', { class: 'muted', id: 'no-runs' }, 'No finished PipelineRuns.'));
    return;
  }
  view.append(el('div', { class: 'charts' },
    el('div', { class: 'chart', id: 'durations' }, el('h2', {}, 'Average duration per day'),
      lineChart(days.map((d) => [d.day, d.avg]), (v) => `${Math.round(v)}s`)),
    el('div', { class: 'chart', id: 'success' }, el('h2', {}, 'Success rate per day'),
      barChart(days.map((d) => [d.day, d.succeeded + d.failed ? d.succeeded / (d.succeeded + d.failed) : 0]),
        (v) => `${Math.round(v * 100)}%`))));
}

/** `HH:MM:SS[.fraction]` as seconds. */
function seconds(text) {
  if (!text) return 0;
  const [h, m, s] = String(text).split(':').map(Number);
  return (h || 0) * 3600 + (m || 0) * 60 + (s || 0);
}

const W = 520, H = 200, PAD = 30;

function axes(points, label, max) {
  const first = points[0][0], last = points[points.length - 1][0];
  return [
    svg('line', { x1: PAD, y1: H - PAD, x2: W - 10, y2: H - PAD, stroke: '#98a2b3' }),
    svg('line', { x1: PAD, y1: 10, x2: PAD, y2: H - PAD, stroke: '#98a2b3' }),
    svg('text', { x: PAD, y: H - 8 }, first.toISOString().slice(0, 10)),
    svg('text', { x: W - 80, y: H - 8 }, last.toISOString().slice(0, 10)),
    svg('text', { x: 2, y: 14 }, label(max)),
  ];
}

function xOf(i, n) {
  return n === 1 ? (W + PAD) / 2 : PAD + 10 + (i * (W - PAD - 30)) / (n - 1);
}

function lineChart(points, label) {
  const max = Math.max(...points.map(([, v]) => v), 1);
  const y = (v) => H - PAD - (v / max) * (H - PAD - 20);
  const xy = points.map(([, v], i) => [xOf(i, points.length), y(v)]);
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' },
    axes(points, label, max),
    svg('polyline', { points: xy.map((p) => p.join(',')).join(' '), fill: 'none', stroke: '#1570ef' }),
    xy.map(([x, yy], i) => svg('circle', { class: 'point', cx: x, cy: yy, r: 3.5 },
      svg('title', {}, `${points[i][0].toISOString().slice(0, 10)}: ${label(points[i][1])}`))));
}

function barChart(points, label) {
  const width = Math.max(4, Math.min(30, (W - PAD - 30) / points.length - 4));
  const y = (v) => H - PAD - v * (H - PAD - 20);
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' },
    axes(points, label, 1),
    points.map(([day, v], i) => svg('rect', { class: 'bar', x: xOf(i, points.length) - width / 2, y: y(v), width, height: H - PAD - y(v) },
      svg('title', {}, `${day.toISOString().slice(0, 10)}: ${label(v)}`))));
}

// ---------- the frame: breadcrumbs, routing, token ----------

function crumbs(s) {
  const items = [link({}, 'namespaces')];
  if (s.ns) items.push(link({ view: 'runs', ns: s.ns }, s.ns === '-' ? 'all' : s.ns));
  if (s.result) items.push(link({ view: 'result', ns: s.ns, result: s.result }, s.result));
  if (s.record) items.push(el('span', {}, s.record));
  if (s.view === 'charts') items.push(el('span', {}, 'charts'));
  const nav = document.getElementById('crumbs');
  nav.replaceChildren(...items.flatMap((item, i) => (i ? [el('span', { class: 'sep' }, '/'), item] : [item])));
}

async function render() {
  if (liveStream) {
    liveStream.abort();
    liveStream = null;
  }
  const s = state();
  crumbs(s);
  try {
    switch (s.view) {
      case 'runs': return await runsView(s);
      case 'result': return await resultView(s);
      case 'run': return await runView(s);
      case 'charts': return await chartsView(s);
      default: return await namespacesView();
    }
  } catch (error) {
    view.append(errorBox(error));
  }
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-nav]');
  if (!a || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  history.pushState(null, '', a.getAttribute('href'));
  render();
});
window.addEventListener('popstate', render);
document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = document.getElementById('token');
  if (input.value) sessionStorage.setItem('results-token', input.value.trim());
  else sessionStorage.removeItem('results-token');
  input.value = '';
  input.placeholder = token() ? 'token set for this tab' : 'kubectl create token …';
  render();
});
if (token()) document.getElementById('token').placeholder = 'token set for this tab';
render();
