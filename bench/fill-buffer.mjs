// Fills a buffer file with N pending readings through SqliteBuffer itself (the same rows, ids, seq and payloads
// the gateway stores), in its own process. Uses synchronous=NORMAL for speed: the file is a fixture for the drain
// and backlog-RSS rows, not a durability measurement. Prints one JSON line.
//   node bench/fill-buffer.mjs --path F --events 1000000 [--devices 50] [--gateway-id bench]
import { parseArgs } from 'node:util';
import { SqliteBuffer } from '../dist/buffer/sqlite-buffer.js';

const { values } = parseArgs({
  options: { path: { type: 'string' }, events: { type: 'string', default: '1000000' }, devices: { type: 'string', default: '50' }, 'gateway-id': { type: 'string', default: 'bench' } },
});
const EVENTS = Number(values.events);
const DEVICES = Number(values.devices);
const buffer = new SqliteBuffer({
  path: values.path,
  gatewayId: values['gateway-id'],
  synchronous: 'NORMAL',
  commitLingerMs: 0,
  maxEventsPerCommit: 100_000,
  maxEvents: 1e9,
  maxBytes: 1e13,
  whenFull: 'block',
  retentionMs: 3_600_000,
  retentionMaxBytes: 1e13,
  clock: { now: () => Date.now() },
});
buffer.open();
const started = performance.now();
for (let done = 0; done < EVENTS; ) {
  const n = Math.min(50_000, EVENTS - done);
  const drafts = [];
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const k = done + i;
    const t = new Date(now - (n - i)).toISOString();
    drafts.push({ type: 'reading', deviceId: `dev-${k % DEVICES}`, metric: 'temperature', value: 20 + (k % 100) / 10, unit: 'Cel', quality: 'good', sourceTime: t, receivedAt: t, source: `bench/fill/dev-${k % DEVICES}` });
  }
  const committed = buffer.append(drafts);
  buffer.flush();
  await committed;
  done += n;
}
const seconds = (performance.now() - started) / 1000;
buffer.close();
process.stdout.write(`${JSON.stringify({ events: EVENTS, seconds, rate: EVENTS / seconds })}\n`);
