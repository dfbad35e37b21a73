// Cost of the buffer's start-up integrity check (buffer.integrityCheck) on a large file, measured the way the
// gateway pays it: SqliteBuffer.open() with quick (default) and full, side by side with open() with the check off
// (the baseline) in the same run. The file is filled by bench/fill-buffer.mjs (the gateway's own rows) in a fresh
// process, then the page cache is what the OS kept (a Pi right after boot reads it cold: slower).
//   node bench/integrity-check.mjs [--events 1000000] [--runs 3]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteBuffer } from '../dist/buffer/sqlite-buffer.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '3' } } });
const dir = mkdtempSync(join(tmpdir(), 'etg-integrity-'));
const path = join(dir, 'buffer.db');
execFileSync(process.execPath, [resolve(import.meta.dirname, 'fill-buffer.mjs'), '--path', path, '--events', values.events], { stdio: 'inherit' });
const options = (integrityCheck) => ({
  path,
  gatewayId: 'bench',
  synchronous: 'NORMAL',
  commitLingerMs: 0,
  maxEventsPerCommit: 5000,
  maxEvents: 1e9,
  maxBytes: 1e13,
  whenFull: 'block',
  retentionMs: 3_600_000,
  retentionMaxBytes: 1e13,
  integrityCheck,
  clock: { now: () => Date.now() },
});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = { off: [], quick: [], full: [] };
for (let run = 0; run < Number(values.runs); run++) {
  for (const mode of ['off', 'quick', 'full']) {
    const t0 = performance.now();
    const buffer = new SqliteBuffer(options(mode));
    buffer.open();
    results[mode].push(performance.now() - t0);
    buffer.close();
  }
}
const fileMiB = statSync(path).size / 2 ** 20;
rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    events: Number(values.events),
    fileMiB: Number(fileMiB.toFixed(1)),
    runs: Number(values.runs),
    openMs: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Math.round(median(v))])),
    all: results,
    load: loadavg().map((l) => Number(l.toFixed(1))),
  }),
);
