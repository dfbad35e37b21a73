#!/usr/bin/env node
// Replay benchmark: N retained (delivered) events in a buffer file → `telemetry-gateway replay` → a real Kafka.
//
//   npm run build && node bench/replay.mjs [--events 1000000] [--devices 100] [--brokers host:port]
//
// Without --brokers a private single-node Kafka (KRaft) is started on a free port and removed afterwards.
// Prints the replay summary (events/s as measured by the command itself) and the wall time of the process.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { SqliteBuffer } from '../dist/buffer/sqlite-buffer.js';
import { findFreePort, startBroker } from '../scripts/kafka-broker.mjs';

const { values: args } = parseArgs({
  options: { events: { type: 'string', default: '1000000' }, devices: { type: 'string', default: '100' }, brokers: { type: 'string' } },
});
const EVENTS = Number(args.events);
const DEVICES = Number(args.devices);
const CLI = resolve(import.meta.dirname, '../dist/cli.js');

const dir = mkdtempSync(join(tmpdir(), 'etg-bench-replay-'));
const bufferPath = join(dir, 'buffer.db');
let broker;
try {
  const t0 = Date.now();
  const buffer = new SqliteBuffer({
    path: bufferPath,
    gatewayId: 'bench',
    synchronous: 'NORMAL',
    commitLingerMs: 0,
    maxEventsPerCommit: 100_000,
    maxEvents: 100_000_000,
    maxBytes: 100_000_000_000,
    whenFull: 'block',
    retentionMs: 7 * 86_400_000,
    retentionMaxBytes: 100_000_000_000,
    clock: { now: () => Date.now() },
  });
  buffer.open();
  const receivedAt = new Date().toISOString();
  for (let done = 0; done < EVENTS; ) {
    const n = Math.min(50_000, EVENTS - done);
    const drafts = [];
    for (let i = 0; i < n; i++) {
      const k = done + i;
      drafts.push({ type: 'reading', deviceId: `dev-${k % DEVICES}`, metric: 'temperature', value: 20 + (k % 100) / 10, unit: 'Cel', quality: 'good', sourceTime: null, receivedAt, source: `site/sensors/dev-${k % DEVICES}` });
    }
    const committed = buffer.append(drafts);
    buffer.flush();
    await committed;
    // Delivered, as after a normal day: replay re-sends retained events.
    buffer.markDelivered(buffer.readPending(n));
    done += n;
  }
  buffer.close();
  process.stderr.write(`filled ${EVENTS} retained events in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

  let brokers = args.brokers;
  if (!brokers) {
    broker = await startBroker({ port: await findFreePort(), dataDir: join(dir, 'kafka') });
    brokers = broker.bootstrap;
  }
  const config = join(dir, 'gateway.yaml');
  writeFileSync(config, stringify({ gateway: { id: 'bench' }, buffer: { path: bufferPath }, kafka: { brokers: brokers.split(','), topics: { prefix: `bench-${Date.now()}.` } } }));
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, 'replay', '--config', config, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.once('exit', r));
  const wallS = (Date.now() - started) / 1000;
  if (code !== 0) throw new Error(`replay exited ${code}`);
  const summary = JSON.parse(out);
  console.log(
    JSON.stringify({ events: EVENTS, devices: DEVICES, sent: summary.sent, eventsPerSec: summary.eventsPerSec, replaySeconds: summary.durationMs / 1000, processWallSeconds: wallS, cpus: cpus().length, cpu: cpus()[0]?.model }),
  );
} finally {
  await broker?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
