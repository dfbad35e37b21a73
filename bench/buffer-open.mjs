// How long SqliteBuffer.open() takes on a file with N pending events: buffer format 3 (totals kept in meta) next
// to the one-time migration of the same file as a format-2 file (a full scan, as every v1 start did), measured
// in the same run. Fills the file once with bench/fill-buffer.mjs (or reuses --path if it exists).
//   npm run build && node bench/buffer-open.mjs [--events 1000000] [--runs 5] [--path F] [--keep]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteBuffer } from '../dist/buffer/sqlite-buffer.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { events: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '5' }, path: { type: 'string' }, keep: { type: 'boolean', default: false } },
});
const tmp = mkdtempSync(join(os.tmpdir(), 'etg-buffer-open-'));
const path = values.path ?? join(tmp, 'buffer.db');
if (!existsSync(path)) {
  execFileSync(process.execPath, [join(root, 'bench', 'fill-buffer.mjs'), '--path', path, '--events', values.events], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function openMs() {
  const buffer = new SqliteBuffer({
    path,
    gatewayId: 'bench',
    synchronous: 'FULL',
    commitLingerMs: 2,
    maxEventsPerCommit: 5000,
    maxEvents: 1e9,
    maxBytes: 1e13,
    whenFull: 'block',
    retentionMs: 3_600_000,
    retentionMaxBytes: 1e13,
    clock: { now: () => Date.now() },
  });
  const t0 = performance.now();
  buffer.open();
  const ms = performance.now() - t0;
  const pending = buffer.pendingCount;
  buffer.close();
  return { ms, pending };
}

/** Makes the file look like a v1 (format 2) buffer: no totals row. */
function downgrade() {
  const db = new Database(path);
  db.prepare("UPDATE meta SET value = '2' WHERE key = 'format'").run();
  db.prepare("DELETE FROM meta WHERE key = 'totals'").run();
  db.close();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = os.loadavg();
const kept = [];
const migrated = [];
let pending = 0;
for (let i = 0; i < Number(values.runs); i++) {
  // Interleaved, so load changes hit both alike: the format-2 open (scan + migration), then the format-3 open.
  downgrade();
  migrated.push(openMs().ms);
  const r = openMs();
  kept.push(r.ms);
  pending = r.pending;
}
process.stdout.write(
  `${JSON.stringify({ pending, runs: kept.length, format3OpenMs: median(kept), format3SpreadMs: [Math.min(...kept), Math.max(...kept)], format2OpenAndMigrateMs: median(migrated), format2SpreadMs: [Math.min(...migrated), Math.max(...migrated)], load })}\n`,
);
if (!values.keep && !values.path) rmSync(tmp, { recursive: true, force: true });
