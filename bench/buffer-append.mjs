// Buffer append rate against its ceiling, in the same process and run: raw better-sqlite3 inserts of the same
// rows (same table and index, the same full event payload with envelope, id, seq), batched per transaction with the
// same durability, vs SqliteBuffer.append (group commit, seq counters, ids). Prints one JSON line.
//   node bench/buffer-append.mjs [--events 200000] [--batch 500] [--sync FULL]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
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
  db.exec(`CREATE TABLE events (pos INTEGER PRIMARY KEY, id TEXT NOT NULL, device_id TEXT NOT NULL, type TEXT NOT NULL, family TEXT NOT NULL,
    seq INTEGER NOT NULL, priority INTEGER NOT NULL, event_time TEXT NOT NULL, received_at INTEGER NOT NULL, payload TEXT NOT NULL, delivered_at INTEGER);
    CREATE INDEX events_pending ON events (priority, pos) WHERE delivered_at IS NULL;`);
  const insert = db.prepare('INSERT INTO events (id, device_id, type, family, seq, priority, event_time, received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const seqs = new Map();
  const tx = db.transaction((drafts) => {
    const now = Date.now();
    for (const d of drafts) {
      const seq = seqs.get(d.deviceId) ?? 0;
      seqs.set(d.deviceId, seq + 1);
      const id = uuidv7();
      const payload = JSON.stringify({ schemaVersion: 2, id, gatewayId: 'bench', seq, ...d });
      insert.run(id, d.deviceId, d.type, 'readings', seq, 2, d.sourceTime ?? d.receivedAt, now, payload);
    }
  });
  const started = performance.now();
  for (let i = 0; i < EVENTS; i += BATCH) {
    const drafts = [];
    for (let j = i; j < Math.min(EVENTS, i + BATCH); j++) drafts.push(draft(j));
    tx(drafts);
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
