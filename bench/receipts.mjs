// Cost of the MQTT receipts in the buffer: appends of one reading each (as the MQTT input makes them), group
// committed with synchronous=FULL and commitLinger 2 ms, with a receipt per append (recognizeResends: true, the
// default) side by side with none (false), alternating in the same run. Prints medians of --runs.
//   node bench/receipts.mjs [--messages 50000] [--runs 3]
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteBuffer } from '../dist/buffer/sqlite-buffer.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '50000' }, runs: { type: 'string', default: '3' } } });
const MESSAGES = Number(values.messages);

async function once(withReceipts) {
  const dir = mkdtempSync(join(tmpdir(), 'etg-receipts-'));
  const buffer = new SqliteBuffer({
    path: join(dir, 'buffer.db'), gatewayId: 'bench', synchronous: 'FULL', commitLingerMs: 2, maxEventsPerCommit: 5000,
    maxEvents: 1e9, maxBytes: 1e13, whenFull: 'block', retentionMs: 3_600_000, retentionMaxBytes: 1e13, clock: { now: () => Date.now() },
  });
  buffer.open();
  const t0 = performance.now();
  const window = [];
  for (let n = 0; n < MESSAGES; n++) {
    const topic = `site/sensors/dev-${n % 10}`;
    const payload = `{"n":${n},"temperature":${n},"time":${Date.now()}}`;
    const t = new Date().toISOString();
    const draft = { type: 'reading', deviceId: `dev-${n % 10}`, metric: 'temperature', value: n, unit: 'Cel', quality: 'good', sourceTime: t, receivedAt: t };
    const receipt = withReceipts
      ? { source: 'mqtt mqtt://127.0.0.1:1883 bench', key: String((n % 65535) + 1), digest: createHash('sha256').update(topic).update('\u0000').update(payload).digest('base64url').slice(0, 22) }
      : undefined;
    window.push(buffer.append([draft], receipt));
    // 1000 in flight, as the MQTT input with inflight 1000.
    if (window.length >= 1000) await window.shift();
  }
  await Promise.all(window);
  const seconds = (performance.now() - t0) / 1000;
  buffer.close();
  rmSync(dir, { recursive: true, force: true });
  return MESSAGES / seconds;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rates = { receipts: [], none: [] };
for (let r = 0; r < Number(values.runs); r++) {
  rates.none.push(await once(false));
  rates.receipts.push(await once(true));
}
console.log(JSON.stringify({
  messages: MESSAGES,
  perSecond: { none: Math.round(median(rates.none)), receipts: Math.round(median(rates.receipts)) },
  costPercent: Number(((1 - median(rates.receipts) / median(rates.none)) * 100).toFixed(1)),
  all: rates,
  load: loadavg().map((l) => Number(l.toFixed(1))),
}));
