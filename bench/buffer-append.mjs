// Buffer append rate against its ceiling, in the same process and run: raw better-sqlite3 inserts of the same
// payloads, batched per transaction with the same durability, vs SqliteBuffer.append (group commit, seq, ids).
//   node bench/buffer-append.mjs [--events 200000] [--batch 500] [--sync FULL]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteBuffer } from '../dist/buffer/sqlite-buffer.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' }, batch: { type: 'string', default: '500' }, sync: { type: 'string', default: 'FULL' }, runs: { type: 'string', default: '3' } } });
const EVENTS = Number(values.events);
const BATCH = Number(values.batch);
const draft = (i) => ({ type: 'reading', deviceId: `dev-${i % 50}`, sourceTime: null, receivedAt: new Date().toISOString(), metric: 'temperature', value: 20 + (i % 100) / 10, unit: 'Cel', quality: 'good', source: `site/sensors/dev-${i % 50}` });

function raw() {
  const dir = mkdtempSync(join(os.tmpdir(), 'etg-raw-'));
  const db = new Database(join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${values.sync}`);
  db.exec('CREATE TABLE events (pos INTEGER PRIMARY KEY, id TEXT, device_id TEXT, payload TEXT)');
  const insert = db.prepare('INSERT INTO events (id, device_id, payload) VALUES (?, ?, ?)');
  const tx = db.transaction((rows) => {
    for (const r of rows) insert.run(r.id, r.deviceId, r.payload);
  });
  const started = performance.now();
  for (let i = 0; i < EVENTS; i += BATCH) {
    const rows = [];
    for (let j = i; j < Math.min(EVENTS, i + BATCH); j++) {
      const d = draft(j);
      rows.push({ id: crypto.randomUUID(), deviceId: d.deviceId, payload: JSON.stringify(d) });
    }
    tx(rows);
  }
  const rate = EVENTS / ((performance.now() - started) / 1000);
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function buffer() {
  const dir = mkdtempSync(join(os.tmpdir(), 'etg-buf-'));
  const b = new SqliteBuffer({ path: join(dir, 'b.db'), gatewayId: 'bench', synchronous: values.sync, commitLingerMs: 2, maxEventsPerCommit: 5000, maxEvents: 1e9, maxBytes: 1e12, whenFull: 'drop-oldest', retentionMs: 3600_000, retentionMaxBytes: 1e12, clock: { now: () => Date.now() } });
  b.open();
  const started = performance.now();
  // Appends arrive the way inputs make them (one message's drafts per call), BATCH at a time before yielding.
  for (let i = 0; i < EVENTS; i += BATCH) {
    const waits = [];
    for (let j = i; j < Math.min(EVENTS, i + BATCH); j++) waits.push(b.append([draft(j)]));
    await Promise.all(waits);
  }
  const rate = EVENTS / ((performance.now() - started) / 1000);
  b.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

const results = { raw: [], buffer: [] };
for (let r = 0; r < Number(values.runs); r++) {
  results.raw.push(raw());
  results.buffer.push(await buffer());
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = { events: EVENTS, batch: BATCH, sync: values.sync, rawPerSec: median(results.raw), bufferPerSec: median(results.buffer), runs: results };
out.ratio = out.bufferPerSec / out.rawPerSec;
console.log(JSON.stringify(out));
