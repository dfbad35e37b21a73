// Status page: polls /api/status every 2 s and redraws. Plain browser JavaScript, no dependencies, no build.
// Every value from the gateway (device ids come from MQTT topics and device data) goes into the page through
// textContent only, never as HTML. What each panel means: docs/status-page.md.
/* global document, window, Node */
'use strict';

const POLL_MS = 2000;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') node.className = v;
    else if (k === 'title') node.title = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function fmtNumber(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function fmtRate(n) {
  if (n >= 100) return fmtNumber(n, 0);
  if (n >= 10) return fmtNumber(n, 1);
  return fmtNumber(n, 2);
}

function fmtAge(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 90) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1073741824) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(2)} GiB`;
}

function fmtValue(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'number') return fmtNumber(value, 3);
  return String(value);
}

const STATE_CLASS = { online: 'ok', degraded: 'warn', offline: 'bad', error: 'bad', unknown: '' };
const CONNECTION_CLASS = { connected: 'ok', listening: 'ok', connecting: 'warn', disconnected: 'bad' };
const SEVERITY_CLASS = { high: 'bad', medium: 'warn', low: '' };

function setBadge(node, text, cls, title) {
  node.textContent = text;
  node.className = `badge ${cls}`;
  if (title !== undefined) node.title = title;
}

/** The words shown for an input's connection: its state, or what its `*_connected` gauge says. */
function connectionWord(i) {
  if (i.connection) return i.connection.state;
  if (i.connected === null) return 'no state';
  return i.connected ? 'connected' : 'disconnected';
}

function connectionClass(i) {
  if (i.connection) return CONNECTION_CLASS[i.connection.state] || '';
  if (i.connected === null) return '';
  return i.connected ? 'ok' : 'bad';
}

function renderHeader(s) {
  $('gateway-id').textContent = s.gatewayId;
  document.title = `${s.gatewayId} · gateway status`;
  const degraded = s.ready.status === 'degraded';
  const readyText = !s.ready.ready ? 'not ready' : degraded ? 'ready, degraded' : 'ready';
  setBadge($('ready-badge'), readyText, !s.ready.ready ? 'bad' : degraded ? 'warn' : 'ok', s.ready.reasons.join('; ') || 'buffer writable, inputs started');
  setBadge($('kafka-badge'), s.kafka.connected ? 'Kafka connected' : 'Kafka not connected', s.kafka.connected ? 'ok' : 'warn', s.kafka.lastError || s.ready.kafka.note);
  $('inputs-badges').replaceChildren(
    ...s.inputs.map((i) =>
      el('span', { class: `badge ${connectionClass(i)}`, title: i.connection ? `${i.connection.endpoint}${i.connection.detail ? ` · ${i.connection.detail}` : ''}` : `input ${i.name}`, 'data-input': i.name }, `${i.name} ${connectionWord(i)}`),
    ),
  );
  $('updated').textContent = `updated ${new Date(s.time).toLocaleTimeString()} · up ${fmtAge(s.uptimeSeconds)}`;
  const problems = $('problems');
  problems.hidden = s.ready.problems.length === 0 && s.ready.reasons.length === 0;
  problems.textContent = [...s.ready.reasons.map((r) => `Not ready: ${r}`), ...s.ready.problems.map((p) => `Degraded (${p.input}, ${p.code}): ${p.message}`)].join(' · ');
}

function renderTiles(s) {
  $('rate-in').textContent = fmtRate(s.rates.inPerSecond);
  $('rate-out').textContent = fmtRate(s.rates.outPerSecond);
  $('backlog').textContent = fmtNumber(s.buffer.pending);
  $('oldest').textContent = s.buffer.pending === 0 ? '–' : fmtAge(s.buffer.oldestPendingAgeSeconds);
  const alarming = new Set(s.alarms.map((a) => a.deviceId)).size;
  $('alarm-count').textContent = fmtNumber(s.alarms.length);
  $('alarm-unit').textContent = s.alarms.length === 0 ? 'none active' : `on ${alarming} device${alarming === 1 ? '' : 's'}`;
  const worst = s.alarms[0]?.severity;
  $('alarms-tile').className = `tile ${worst ? SEVERITY_CLASS[worst] || 'notice' : ''}`;
  $('dead-letters').textContent = fmtNumber(s.deadLetters.total);
  $('sent').textContent = fmtNumber(s.kafka.sentEvents);
}

function renderAlarms(s) {
  const body = $('alarms').tBodies[0];
  $('alarms-count').textContent = `(${s.alarms.length})`;
  const beyond = s.alarmsNotListed > 0 ? el('tr', {}, el('td', { colspan: '7', class: 'muted' }, `${s.alarmsNotListed} alarm activations since start were not kept (the page keeps 1000 active alarms); Kafka has every one`)) : null;
  if (s.alarms.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: '7', class: 'muted' }, 'no active alarms')), ...(beyond ? [beyond] : []));
    return;
  }
  body.replaceChildren(
    ...s.alarms.map((a) =>
      el(
        'tr',
        { 'data-alarm': `${a.deviceId}/${a.alarm}` },
        el('td', {}, el('span', { class: `state ${SEVERITY_CLASS[a.severity] || ''}` }, a.severity)),
        el('td', { class: 'nowrap' }, a.deviceId),
        el('td', { class: 'strong' }, a.alarm),
        el('td', {}, a.message),
        el('td', {}, a.metric === null ? '–' : `${a.metric} = ${fmtValue(a.value)}`),
        el('td', {}, a.input),
        el('td', { class: 'num' }, fmtAge(a.activeSeconds)),
      ),
    ),
  );
  if (beyond) body.append(beyond);
}

/** One latest value: metric, value, unit as people write it, and the UCUM code beside it when they differ. */
function metricChip(m, units) {
  const quality = m.quality === 'good' ? '' : m.quality;
  const hasValue = m.value !== null && m.value !== undefined;
  const { symbol, name } = (m.unit !== null && units[m.unit]) || { symbol: m.unit ?? '', name: null };
  // No value (a bad reading): no unit beside the dash either.
  const unit = hasValue && symbol ? ` ${symbol}` : '';
  const code = hasValue && m.unit && m.unit !== '1' && m.unit !== symbol ? el('span', { class: 'ucum', title: `UCUM code${name ? ` (${name})` : ''}` }, m.unit) : null;
  return el(
    'span',
    { class: `metric ${quality ? `q-${quality}` : ''}`, 'data-metric': m.metric, title: `${m.metric}${name ? `, ${name}` : ''}: ${fmtAge(m.ageSeconds)} ago${quality ? `, quality ${quality}` : ''}` },
    el('span', { class: 'name' }, m.metric),
    ' ',
    el('span', { class: 'value' }, `${fmtValue(m.value)}${unit}`),
    code ? ' ' : null,
    code,
    quality ? el('span', { class: 'quality' }, ` ${quality}`) : null,
  );
}

function renderDevices(s) {
  const body = $('devices').tBodies[0];
  $('device-count').textContent = `(${s.devices.length}${s.devicesUntracked ? ` of ${s.devices.length + s.devicesUntracked}` : ''})`;
  if (s.devices.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: '8', class: 'muted' }, 'no devices yet: they appear when configured or when they first send data')));
  } else {
    body.replaceChildren(
      ...s.devices.map((d) =>
        el(
          'tr',
          { 'data-device': d.deviceId },
          el('td', { class: 'strong nowrap' }, d.deviceId, d.activeAlarms > 0 ? el('span', { class: 'badge bad small', title: 'active alarms' }, `${d.activeAlarms} alarm${d.activeAlarms === 1 ? '' : 's'}`) : null),
          el('td', { class: 'nowrap' }, d.input),
          el('td', { class: 'state-cell' }, el('span', { class: `state ${STATE_CLASS[d.state] || ''}`, title: `since ${fmtAge(d.stateSinceSeconds)}` }, d.state), el('div', { class: 'reason' }, d.reason)),
          el(
            'td',
            { class: 'metrics' },
            el(
              'div',
              { class: 'metric-list' },
              d.metrics.length === 0 ? el('span', { class: 'muted' }, '–') : null,
              ...d.metrics.map((m) => metricChip(m, s.units)),
              d.metricsNotListed > 0 ? el('span', { class: 'muted' }, `+${d.metricsNotListed} more`) : null,
            ),
          ),
          el('td', { class: 'num' }, fmtAge(d.lastReadingAgeSeconds)),
          el('td', { class: 'num' }, fmtRate(d.eventsPerSecond)),
          el('td', { class: 'num' }, fmtNumber(d.events)),
          el('td', { class: 'num' }, fmtNumber(d.deadLetters)),
        ),
      ),
    );
  }
  const untracked = $('untracked');
  untracked.hidden = s.devicesUntracked === 0;
  untracked.textContent = `${s.devicesUntracked} more devices are not listed (http.maxDevices is ${s.maxDevices}); their events count as device "_other" in /metrics.`;
}

/** An input figure's name as people read it: without the family prefix and `_total`, words instead of underscores. */
function figureName(name, prefix) {
  let n = name.startsWith(prefix) ? name.slice(prefix.length) : name;
  n = n.replace(/_total$/, '');
  const total = /_seconds$/.test(n) && name.endsWith('_total');
  n = n.replace(/_(seconds|bytes)$/, '');
  return `${n.replace(/_/g, ' ')}${total ? ' (sum)' : ''}`;
}

function figureValue(m) {
  if (/_seconds(_total)?$/.test(m.name)) return fmtAge(m.value);
  if (/_bytes(_total)?$/.test(m.name)) return fmtBytes(m.value);
  return fmtNumber(m.value, 3);
}

/** Input figures grouped by device (or by the input itself), each as "name value", extra labels in the name. */
function renderFigures(i) {
  const metrics = i.metrics.filter((m) => !(m.name.endsWith('_connected') && Object.keys(m.labels).length === 0));
  if (metrics.length === 0) return [el('span', { class: 'muted' }, '–')];
  const family = /^[a-z0-9]+_/.exec(metrics[0].name)?.[0] ?? '';
  const prefix = metrics.every((m) => m.name.startsWith(family)) ? family : '';
  // A counter and a gauge of the same name (hl7_connections_total, hl7_connections): the counter says "total".
  const gauges = new Set(metrics.filter((m) => m.type === 'gauge').map((m) => m.name));
  const groups = new Map();
  for (const m of metrics) {
    const group = m.labels.device ?? '';
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(m);
  }
  return [...groups].map(([group, list]) =>
    el(
      'div',
      { class: 'figure-group', 'data-group': group || i.name },
      group ? el('span', { class: 'group' }, group) : null,
      ...list.map((m) => {
        const extra = Object.entries(m.labels)
          .filter(([k]) => k !== 'device')
          .map(([, v]) => v)
          .join(' ');
        const total = m.type === 'counter' && gauges.has(m.name.replace(/_total$/, '')) ? ' total' : '';
        return el(
          'span',
          { class: 'figure', title: m.help, 'data-figure': m.name, 'data-labels': extra || undefined },
          el('span', { class: 'name' }, `${figureName(m.name, prefix)}${total}${extra ? ` ${extra}` : ''}`),
          ' ',
          el('span', { class: 'value' }, figureValue(m)),
        );
      }),
    ),
  );
}

function renderInputs(s) {
  const body = $('inputs').tBodies[0];
  body.replaceChildren(
    ...s.inputs.map((i) => {
      const c = i.connection;
      const since = c && c.sinceSeconds !== null ? ` for ${fmtAge(c.sinceSeconds)}` : '';
      return el(
        'tr',
        { 'data-input': i.name },
        el('td', { class: 'strong nowrap' }, i.name),
        el(
          'td',
          { class: 'connection' },
          el('span', { class: `state ${connectionClass(i)}`, title: since ? `${connectionWord(i)}${since}` : undefined }, connectionWord(i)),
          c ? el('div', { class: 'endpoint' }, c.endpoint) : null,
          c && c.detail ? el('div', { class: 'reason' }, c.detail) : null,
        ),
        el('td', { class: 'num' }, fmtNumber(i.eventsIngested)),
        el('td', { class: 'num' }, fmtNumber(i.deadLetters)),
        el('td', { class: 'figures' }, ...renderFigures(i)),
      );
    }),
  );
}

function renderDeadLetters(s) {
  const d = s.deadLetters;
  $('dead-letter-count').textContent = `(${fmtNumber(d.total)})`;
  const body = $('dead-letter-sources').tBodies[0];
  if (d.sources.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: '6', class: 'muted' }, 'none: everything received could be decoded')));
    return;
  }
  body.replaceChildren(
    ...d.sources.map((src) =>
      el(
        'tr',
        { 'data-source': src.source },
        el('td', { class: 'nowrap' }, src.input),
        el('td', { class: 'code' }, src.source),
        el('td', { class: 'nowrap' }, src.deviceId),
        el('td', { class: 'num' }, fmtNumber(src.count)),
        el('td', { class: 'reason-text' }, src.lastReason),
        el('td', { class: 'num' }, `${fmtAge(src.lastSeenAgeSeconds)} ago`),
      ),
    ),
  );
  if (d.sourcesNotListed > 0) body.append(el('tr', {}, el('td', { colspan: '6', class: 'muted' }, `${d.sourcesNotListed} older sources are not listed; the dead-letter topic has every one`)));
}

function renderBuffer(s) {
  const b = s.buffer;
  const families = Object.entries(b.pendingByFamily).map(([f, n]) => `${f} ${fmtNumber(n)}`).join(', ') || 'none';
  const rows = [
    ['Pending', `${fmtNumber(b.pending)} (${families})`],
    ['Oldest pending', b.pending === 0 ? '–' : fmtAge(b.oldestPendingAgeSeconds)],
    ['Retained for replay', fmtNumber(b.retained)],
    ['Buffer file', fmtBytes(b.fileBytes)],
    ['Buffer writable', s.ready.buffer.writable ? 'yes' : `no: ${s.ready.buffer.error}`],
    ['Dropped (buffer full)', fmtNumber(b.droppedEvents)],
    ['Kafka', s.kafka.connected ? 'connected' : `not connected${s.kafka.lastError ? `: ${s.kafka.lastError}` : ''}`],
    ['Sent', `${fmtNumber(s.kafka.sentEvents)} events in ${fmtNumber(s.kafka.sentBatches)} requests`],
    ['Failed sends', fmtNumber(s.kafka.failedSends)],
  ];
  if (s.schemaRegistry) rows.push(['Schema registry', s.schemaRegistry.ready ? `ready (${s.schemaRegistry.subjects.length} subjects)` : `not ready${s.schemaRegistry.lastError ? `: ${s.schemaRegistry.lastError}` : ''}`]);
  rows.push(['Event loop delay p99', `${fmtNumber(s.live.eventLoopDelayMs.p99, 1)} ms`]);
  $('buffer').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-row': k }, v)]));
}

function drawChart(canvas, points, key, color, peakKey) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  canvas.dataset.points = String(points.length);
  const last = points[points.length - 1];
  canvas.dataset.last = last ? String(last[key]) : '';
  const pad = { left: 4, right: 4, top: 14, bottom: 4 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const now = points.length ? last.t : Date.now();
  // The axis spans the history there is (up to 15 min), so a young gateway's chart is not a sliver at the edge.
  const from = points.length > 1 ? Math.max(now - 15 * 60 * 1000, points[0].t) : now - 1000;
  const max = Math.max(1, ...points.map((p) => Math.max(p[key], peakKey ? p[peakKey] : 0)));
  ctx.strokeStyle = '#e3e6ea';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(pad.left, pad.top + h + 0.5);
  ctx.lineTo(pad.left + w, pad.top + h + 0.5);
  ctx.stroke();
  ctx.fillStyle = '#6b7280';
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillText(`max ${fmtRate(max)}`, pad.left, 10);
  if (last) {
    const text = `now ${fmtRate(last[key])}${peakKey ? ` · peak ${fmtNumber(last[peakKey])}` : ''}`;
    ctx.fillText(text, pad.left + w - ctx.measureText(text).width, 10);
  }
  if (points.length < 2) {
    ctx.fillText('collecting…', pad.left + w / 2 - 28, pad.top + h / 2);
    return;
  }
  const x = (t) => pad.left + ((t - from) / (now - from)) * w;
  const y = (v) => pad.top + h - (v / max) * h;
  if (peakKey) {
    ctx.beginPath();
    points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.t), y(p[peakKey])) : ctx.lineTo(x(p.t), y(p[peakKey]))));
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = color;
    ctx.globalAlpha = 0.7;
    ctx.lineWidth = 1;
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.globalAlpha = 1;
  }
  ctx.beginPath();
  points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.t), y(p[key])) : ctx.lineTo(x(p.t), y(p[key]))));
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.6;
  ctx.stroke();
  ctx.lineTo(x(last.t), pad.top + h);
  ctx.lineTo(x(points[0].t), pad.top + h);
  ctx.closePath();
  ctx.globalAlpha = 0.12;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.globalAlpha = 1;
}

function renderCharts(s) {
  const h = s.history;
  const span = h.length > 1 ? `last ${fmtAge((h[h.length - 1].t - h[0].t) / 1000)}` : 'last 15 min';
  for (const node of document.querySelectorAll('.chart-span')) node.textContent = `(${span})`;
  drawChart($('chart-in'), s.history, 'inPerSecond', '#2b6cb0');
  drawChart($('chart-out'), s.history, 'outPerSecond', '#2f855a');
  drawChart($('chart-backlog'), s.history, 'backlog', '#b7791f', 'backlogMax');
}

let lastStatus = null;

async function refresh() {
  try {
    const response = await fetch('api/status', { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const s = await response.json();
    lastStatus = s;
    renderHeader(s);
    renderTiles(s);
    renderAlarms(s);
    renderDevices(s);
    renderInputs(s);
    renderDeadLetters(s);
    renderBuffer(s);
    renderCharts(s);
    // For tests and scripts: which /api/status answer the page shows (its `time`).
    document.body.dataset.statusTime = s.time;
  } catch (err) {
    $('updated').textContent = `cannot reach the gateway (${err.message}); retrying`;
    setBadge($('ready-badge'), 'unreachable', 'bad');
  } finally {
    setTimeout(refresh, POLL_MS);
  }
}

window.addEventListener('resize', () => {
  if (lastStatus) renderCharts(lastStatus);
});

refresh();
