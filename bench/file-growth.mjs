// Does the buffer file stay bounded while data flows through it for days? Flows N events through SqliteBuffer
// (append in groups, read, mark delivered, purge by retention size as the gateway's timer does) and prints the file
// size (db + WAL) every million events.
//   node bench/file-growth.mjs [--events 10000000] [--retention-bytes 67108864] [--sync NORMAL]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteBuffer } from '../dist/buffer/sqlite-buffer.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '10000000' }, 'retention-bytes': { type: 'string', default: String(64 * 2 ** 20) }, sync: { type: 'string', default: 'NORMAL' } } });
const EVENTS = Number(values.events);
const dir = mkdtempSync(join(os.tmpdir(), 'etg-growth-'));
const path = join(dir, 'buffer.db');
const buffer = new SqliteBuffer({ path, gatewayId: 'growth', synchronous: values.sync, commitLingerMs: 0, maxEventsPerCommit: 5000, maxEvents: 5e6, maxBytes: 2 ** 31, whenFull: 'drop-oldest', retentionMs: 86_400_000, retentionMaxBytes: Number(values['retention-bytes']), clock: { now: () => Date.now() } });
buffer.open();
const size = () => ['', '-wal'].reduce((n, s) => { try { return n + statSync(path + s).size; } catch { return n; } }, 0);
const started = Date.now();
let maxSize = 0;
const rows = [];
for (let i = 0; i < EVENTS; i += 5000) {
  const drafts = [];
  for (let j = i; j < i + 5000; j++) drafts.push({ type: 'reading', deviceId: `dev-${j % 50}`, sourceTime: null, receivedAt: new Date().toISOString(), metric: 'temperature', value: 20 + (j % 100) / 10, unit: 'Cel', quality: 'good', source: `site/sensors/dev-${j % 50}` });
  await buffer.append(drafts);
  buffer.markDelivered(buffer.readPending(5000));
  if ((i + 5000) % 200_000 === 0) buffer.purgeDelivered(400_000);
  maxSize = Math.max(maxSize, size());
  if ((i + 5000) % 1_000_000 === 0) {
    const row = { events: i + 5000, fileMB: +(size() / 2 ** 20).toFixed(1), maxMB: +(maxSize / 2 ** 20).toFixed(1), retained: buffer.stats().retained, seconds: Math.round((Date.now() - started) / 1000) };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
buffer.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ done: true, events: EVENTS, retentionBytes: Number(values['retention-bytes']), sync: values.sync, finalMB: rows.at(-1)?.fileMB, maxMB: +(maxSize / 2 ** 20).toFixed(1) }));
