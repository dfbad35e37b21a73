#!/usr/bin/env node
// HL7 ACK-after-commit benchmark: messages/s and ACK latency (p50/p99, first send → ACK) of PCD-01 senders that
// send back to back, each message after the previous ACK — one connection, and 20 concurrent monitors — against
//   ceiling  an MLLP echo that answers CA at once (no parsing, no buffer, no fsync; bench/hl7-echo.mjs)
//   sqlite   raw SQLite, WAL, synchronous=FULL, one row per transaction: the fsyncs/s this disk gives, which caps
//            one connection that waits for every ACK when every ACK waits for its own commit
//   gateway  the gateway process (dist/cli.js run), synchronous=FULL (default) and NORMAL, forwarding to a real
//            Kafka broker (started here) meanwhile
// all in the same run; every row is the median of --runs runs with the spread, and the 1-minute load average
// while it ran. Senders run in their own process (bench/hl7-senders.mjs).
//
//   npm run build && node bench/hl7-ack.mjs [--runs 3] [--messages 2000] [--monitors 20] [--per-monitor 300] [--json FILE]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { findFreePort, startBroker } from '../scripts/kafka-broker.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    messages: { type: 'string', default: '2000' },
    monitors: { type: 'string', default: '20' },
    'per-monitor': { type: 'string', default: '300' },
    json: { type: 'string' },
  },
});
const RUNS = Number(args.runs);
const MESSAGES = Number(args.messages);
const MONITORS = Number(args.monitors);
const PER_MONITOR = Number(args['per-monitor']);
const tmp = mkdtempSync(join(os.tmpdir(), 'etg-bench-hl7-'));
const load = () => os.loadavg()[0];
const log = (line) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)} load ${load().toFixed(1)}] ${line}\n`);

function spawnLines(argv, onLine) {
  const child = spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let partial = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) onLine(l);
  });
  child.stderr.on('data', (c) => (stderr += c.toString()));
  child.exited = new Promise((r) => child.once('exit', (code) => r({ code, stderr })));
  return child;
}

async function until(child, test, what) {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 120_000);
    child.on('line', (l) => {
      if (test(l)) {
        clearTimeout(timer);
        resolvePromise();
      }
    });
    child.exited.then(({ code, stderr }) => reject(new Error(`${what}: exited ${code}: ${stderr.slice(-1000)}`)));
  });
}

function startProcess(argv) {
  const child = spawnLines(argv, (l) => child.emit('line', l));
  return child;
}

async function senders(port, connections, messages) {
  let result;
  const child = spawnLines(['bench/hl7-senders.mjs', '--port', String(port), '--connections', String(connections), '--messages', String(messages)], (l) => {
    if (l.startsWith('{')) result = JSON.parse(l);
  });
  const { code, stderr } = await child.exited;
  if (code !== 0 || !result) throw new Error(`senders exited ${code}: ${stderr.slice(-1000)}`);
  if (result.acked !== connections * messages) throw new Error(`only ${result.acked} of ${connections * messages} acknowledged`);
  return result;
}

async function stop(child) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await child.exited;
  clearTimeout(timer);
}

async function echoScenario(connections, messages) {
  const port = await findFreePort();
  const echo = startProcess(['bench/hl7-echo.mjs', '--port', String(port)]);
  await until(echo, (l) => l === 'listening', 'echo listening');
  try {
    return await senders(port, connections, messages);
  } finally {
    await stop(echo);
  }
}

let unique = 0;
async function gatewayScenario(bootstrap, synchronous, connections, messages) {
  unique += 1;
  const dir = mkdtempSync(join(tmp, 'gw-'));
  const port = await findFreePort();
  const gatewayId = `bench-hl7-${process.pid}-${unique}`;
  const config = {
    gateway: { id: gatewayId },
    logging: { level: 'warn' },
    buffer: { path: join(dir, 'buffer.db'), synchronous },
    kafka: { brokers: [bootstrap], topics: { prefix: `${gatewayId}.` } },
    http: { enabled: false },
    health: { interval: 0 },
    inputs: [{ type: 'hl7', name: 'bench', listen: { port } }],
  };
  writeFileSync(join(dir, 'gateway.yaml'), stringify(config));
  const gateway = startProcess(['dist/cli.js', 'run', '--config', join(dir, 'gateway.yaml')]);
  // logging.level warn hides "hl7 listening": wait until the port answers instead.
  await waitForPort(port);
  try {
    return await senders(port, connections, messages);
  } finally {
    await stop(gateway);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitForPort(port) {
  const { connect } = await import('node:net');
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = connect({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} never answered`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One-row transactions with synchronous=FULL for `ms`: the fsync-bound commit rate of this disk. */
function sqliteScenario(ms = 3000) {
  const dir = mkdtempSync(join(tmp, 'sqlite-'));
  const db = new Database(join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO t (payload) VALUES (?)');
  const commit = db.transaction((p) => insert.run(p));
  const payload = 'x'.repeat(300);
  const latencies = [];
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const s = performance.now();
    commit(payload);
    latencies.push(performance.now() - s);
  }
  const elapsed = performance.now() - t0;
  db.close();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return { perSecond: Math.round((latencies.length / elapsed) * 1000), p50: Number(latencies[latencies.length >> 1].toFixed(2)), p99: Number(latencies[Math.floor(latencies.length * 0.99)].toFixed(2)), acked: latencies.length, connections: 1 };
}

async function median(name, fn) {
  const runs = [];
  const loads = [];
  for (let i = 0; i < RUNS; i++) {
    loads.push(load());
    const r = await fn();
    loads.push(load());
    runs.push(r);
    log(`${name} run ${i + 1}: ${r.perSecond} msg/s, p50 ${r.p50} ms, p99 ${r.p99} ms`);
  }
  const pick = (key) => {
    const v = runs.map((r) => r[key]).sort((a, b) => a - b);
    return { median: v[v.length >> 1], min: v[0], max: v.at(-1) };
  };
  return { name, perSecond: pick('perSecond'), p50: pick('p50'), p99: pick('p99'), messages: runs[0].acked, connections: runs[0].connections, load: [Math.min(...loads), Math.max(...loads)], runs };
}

const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '?', memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAtStart: os.loadavg() };
log(`machine: ${machine.cpus} × ${machine.model}, ${machine.memGiB} GiB, node ${machine.node}`);
const kafkaPort = await findFreePort();
const broker = await startBroker({ port: kafkaPort, dataDir: join(tmp, 'kafka'), heapMb: 512 });
log(`kafka ${broker.bootstrap}`);
const rows = [];
try {
  rows.push(await median('ceiling: MLLP echo, 1 connection', () => echoScenario(1, MESSAGES)));
  rows.push(await median(`ceiling: MLLP echo, ${MONITORS} monitors`, () => echoScenario(MONITORS, PER_MONITOR)));
  rows.push(await median('ceiling: raw SQLite FULL, 1 row per commit', () => sqliteScenario()));
  rows.push(await median('gateway FULL, 1 connection', () => gatewayScenario(broker.bootstrap, 'FULL', 1, MESSAGES)));
  rows.push(await median(`gateway FULL, ${MONITORS} monitors`, () => gatewayScenario(broker.bootstrap, 'FULL', MONITORS, PER_MONITOR)));
  rows.push(await median('gateway NORMAL, 1 connection', () => gatewayScenario(broker.bootstrap, 'NORMAL', 1, MESSAGES)));
  rows.push(await median(`gateway NORMAL, ${MONITORS} monitors`, () => gatewayScenario(broker.bootstrap, 'NORMAL', MONITORS, PER_MONITOR)));
} finally {
  await broker.stop().catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
}
const cell = (s) => `${s.median} (${s.min}–${s.max})`;
console.log(`| scenario | connections | messages | msg/s | ACK p50 ms | ACK p99 ms | load |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const r of rows) console.log(`| ${r.name} | ${r.connections} | ${r.messages} | ${cell(r.perSecond)} | ${cell(r.p50)} | ${cell(r.p99)} | ${r.load[0].toFixed(1)}–${r.load[1].toFixed(1)} |`);
if (args.json) writeFileSync(args.json, JSON.stringify({ machine, args, rows }, null, 2));
process.exit(0);
