// Status page: polls /api/status every 2 s and redraws. Plain browser JavaScript, no dependencies, no build.
// Every value from the gateway (device ids come from MQTT topics and device data) goes into the page through
// textContent only, never as HTML.
/* global document, window, Node */
'use strict';

const POLL_MS = 2000;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k === 'title') node.title = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
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

function fmtValue(d) {
  if (d.lastMetric === null) return '–';
  const value = d.lastValue === null ? 'no value' : typeof d.lastValue === 'number' ? fmtNumber(d.lastValue, 3) : String(d.lastValue);
  const unit = d.lastUnit && d.lastUnit !== '1' ? ` ${d.lastUnit}` : '';
  const quality = d.lastQuality && d.lastQuality !== 'good' ? ` (${d.lastQuality})` : '';
  return `${d.lastMetric} = ${value}${unit}${quality}`;
}

const STATE_CLASS = { online: 'ok', degraded: 'warn', offline: 'bad', error: 'bad', unknown: '' };

function setBadge(node, text, cls, title) {
  node.textContent = text;
  node.className = `badge ${cls}`;
  if (title !== undefined) node.title = title;
}

function renderHeader(s) {
  $('gateway-id').textContent = s.gatewayId;
  document.title = `${s.gatewayId} · gateway status`;
  setBadge($('ready-badge'), s.ready.ready ? 'ready' : 'not ready', s.ready.ready ? 'ok' : 'bad', s.ready.reasons.join('; ') || 'buffer writable, inputs started');
  setBadge($('kafka-badge'), s.kafka.connected ? 'Kafka connected' : 'Kafka not connected', s.kafka.connected ? 'ok' : 'warn', s.kafka.lastError || s.ready.kafka.note);
  const holder = $('inputs-badges');
  holder.replaceChildren(
    ...s.inputs.map((i) => {
      const state = i.connected === null ? '' : i.connected ? 'connected' : 'disconnected';
      return el('span', { class: `badge ${i.connected === null ? '' : i.connected ? 'ok' : 'bad'}`, title: `input ${i.name}` }, `${i.name}${state ? ` ${state}` : ''}`);
    }),
  );
  $('updated').textContent = `updated ${new Date(s.time).toLocaleTimeString()} · up ${fmtAge(s.uptimeSeconds)}`;
}

function renderTiles(s) {
  $('rate-in').textContent = fmtRate(s.rates.inPerSecond);
  $('rate-out').textContent = fmtRate(s.rates.outPerSecond);
  $('backlog').textContent = fmtNumber(s.buffer.pending);
  $('oldest').textContent = s.buffer.pending === 0 ? '–' : fmtAge(s.buffer.oldestPendingAgeSeconds);
  $('dead-letters').textContent = fmtNumber(s.inputs.reduce((n, i) => n + i.deadLetters, 0));
  $('sent').textContent = fmtNumber(s.kafka.sentEvents);
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
          el('td', {}, d.deviceId),
          el('td', {}, d.input),
          el('td', {}, el('span', { class: `state ${STATE_CLASS[d.state] || ''}`, title: `${d.reason} (since ${fmtAge(d.stateSinceSeconds)})` }, d.state), ' ', el('span', { class: 'reason' }, d.reason)),
          el('td', {}, fmtValue(d)),
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

function renderInputs(s) {
  const body = $('inputs').tBodies[0];
  body.replaceChildren(
    ...s.inputs.map((i) => {
      const figures = i.metrics
        .filter((m) => !m.name.endsWith('_connected'))
        .map((m) => {
          const labels = Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(',');
          return `${m.name}${labels ? `{${labels}}` : ''} ${fmtNumber(m.value, 3)}`;
        })
        .join(' · ');
      const connection = i.connected === null ? '–' : i.connected ? 'connected' : 'disconnected';
      return el(
        'tr',
        {},
        el('td', {}, i.name),
        el('td', {}, el('span', { class: `state ${i.connected === null ? '' : i.connected ? 'ok' : 'bad'}` }, connection)),
        el('td', { class: 'num' }, fmtNumber(i.eventsIngested)),
        el('td', { class: 'figures' }, figures || '–'),
      );
    }),
  );
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
    ['Kafka', s.kafka.connected ? 'connected' : `not connected${s.kafka.lastError ? `: ${s.kafka.lastError}` : ''}`],
    ['Sent', `${fmtNumber(s.kafka.sentEvents)} events in ${fmtNumber(s.kafka.sentBatches)} requests`],
    ['Failed sends', fmtNumber(s.kafka.failedSends)],
    ['Event loop delay p99', `${fmtNumber(s.live.eventLoopDelayMs.p99, 1)} ms`],
  ];
  $('buffer').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function drawChart(canvas, points, key, color) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  canvas.dataset.points = String(points.length);
  const pad = { left: 4, right: 4, top: 14, bottom: 4 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const now = points.length ? points[points.length - 1].t : Date.now();
  // The axis spans the history there is (up to 15 min), so a young gateway's chart is not a sliver at the edge.
  const from = points.length > 1 ? Math.max(now - 15 * 60 * 1000, points[0].t) : now - 1000;
  const max = Math.max(1, ...points.map((p) => p[key]));
  ctx.strokeStyle = '#e3e6ea';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(pad.left, pad.top + h + 0.5);
  ctx.lineTo(pad.left + w, pad.top + h + 0.5);
  ctx.stroke();
  ctx.fillStyle = '#6b7280';
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillText(`max ${fmtRate(max)}`, pad.left, 10);
  if (points.length < 2) {
    ctx.fillText('collecting…', pad.left + w / 2 - 28, pad.top + h / 2);
    return;
  }
  const x = (t) => pad.left + ((t - from) / (now - from)) * w;
  const y = (v) => pad.top + h - (v / max) * h;
  ctx.beginPath();
  points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.t), y(p[key])) : ctx.lineTo(x(p.t), y(p[key]))));
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.6;
  ctx.stroke();
  ctx.lineTo(x(points[points.length - 1].t), pad.top + h);
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
  drawChart($('chart-backlog'), s.history, 'backlog', '#b7791f');
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
    renderDevices(s);
    renderInputs(s);
    renderBuffer(s);
    renderCharts(s);
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
