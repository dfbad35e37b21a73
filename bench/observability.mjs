// Observability cost (needs `npm run build`): observer overhead per draft through the decorating sink, the time to
// render /metrics and to build /api/status with 1000 tracked devices of 8 metrics each (no I/O).
// Usage: node bench/observability.mjs
import { EventObserver } from '../dist/observability/observer.js';
import { Figures } from '../dist/observability/figures.js';
import { readiness, liveness, EventLoopMonitor } from '../dist/observability/health.js';
import { GatewayMetrics } from '../dist/observability/metrics.js';
import { buildStatus } from '../dist/observability/status.js';
import { createLogger } from '../dist/util/logger.js';
const clock = { now: () => Date.now() };
const observer = new EventObserver({ maxDevices: 1000, clock });
const sink = observer.sinkFor('site', { append: () => Promise.resolve(), flush() {} });
const t = new Date().toISOString();
const METRICS = ['temperature', 'humidity', 'battery', 'link-quality', 'voltage', 'current', 'power', 'energy'];
// 80 batches of 100 readings: every one of the 1000 devices gets each of its 8 metrics.
const batches = Array.from({ length: 80 }, (_, b) =>
  Array.from({ length: 100 }, (_, i) => ({ type: 'reading', deviceId: `dev-${(b * 100 + i) % 1000}`, metric: METRICS[Math.floor(b / 10)], value: i, unit: 'Cel', quality: 'good', sourceTime: null, receivedAt: t })),
);
for (let i = 0; i < 800; i++) await sink.append(batches[i % 80]);
const N = 20000;
let start = process.hrtime.bigint();
for (let i = 0; i < N; i++) await sink.append(batches[i % 80]);
const nsPerDraft = Number(process.hrtime.bigint() - start) / (N * 100);
const bare = { append: () => Promise.resolve(), flush() {} };
start = process.hrtime.bigint();
for (let i = 0; i < N; i++) await bare.append(batches[i % 80]);
const nsBare = Number(process.hrtime.bigint() - start) / (N * 100);
const stats = { pending: 0, pendingByFamily: { readings: 5 }, retained: 0, oldestPendingAt: null, fileBytes: 0 };
const figures = new Figures({ gatewayId: 'g', buffer: () => ({ pendingCount: 5, stats: () => stats }), forwarder: () => undefined, inputs: () => [] }, observer, clock);
const metrics = new GatewayMetrics(figures, createLogger('silent'), () => true);
let body = await metrics.render();
start = process.hrtime.bigint();
const R = 50;
for (let i = 0; i < R; i++) body = await metrics.render();
const msRender = Number(process.hrtime.bigint() - start) / 1e6 / R;
const monitor = new EventLoopMonitor();
let status = JSON.stringify(buildStatus(figures, liveness(monitor, figures), readiness(figures, true)));
start = process.hrtime.bigint();
for (let i = 0; i < R; i++) status = JSON.stringify(buildStatus(figures, liveness(monitor, figures), readiness(figures, true)));
const msStatus = Number(process.hrtime.bigint() - start) / 1e6 / R;
console.log(
  JSON.stringify({
    devices: observer.devices.length,
    observerNsPerDraft: +(nsPerDraft - nsBare).toFixed(1),
    totalNsPerDraftWithAwait: +nsPerDraft.toFixed(1),
    metricsRenderMs: +msRender.toFixed(1),
    metricsBytes: body.length,
    series: body.split('\n').filter((l) => l && !l.startsWith('#')).length,
    statusMs: +msStatus.toFixed(1),
    statusBytes: status.length,
  }),
);
