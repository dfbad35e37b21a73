// The gateway on Node 20 (this machine's node, this checkout) and on Node 24 LTS (the pinned runtime with its own
// dependency tree, scripts/node-runtime.mjs), side by side in one run against the same Kafka and Mosquitto: start
// to 'gateway started', resident memory when idle, and a full-speed run (QoS 1 messages from a separate publisher
// process until the last record is in Kafka) with its rate, CPU per 1,000 events and peak RSS. The two alternate
// within each run (order swapped every run), so load from others falls on both alike. Prints a Markdown table.
//
//   npm run build && node bench/node-versions.mjs [--runs 3] [--messages 50000] [--idle-seconds 8]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { stringify } from 'yaml';
import { findFreePort, startBroker } from '../scripts/kafka-broker.mjs';
import { startMosquitto } from '../scripts/mosquitto.mjs';
import { NODE24, copyCheckout, ensureDependencyTree } from '../scripts/node-runtime.mjs';
import { cpuSeconds, peakRssMb, rssMb } from './proc-stats.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    messages: { type: 'string', default: '50000' },
    'idle-seconds': { type: 'string', default: '8' },
  },
});
const RUNS = Number(args.runs);
const MESSAGES = Number(args.messages);
const IDLE_MS = Number(args['idle-seconds']) * 1000;
const DEVICES = 50;

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
/** @param {() => boolean | Promise<boolean>} predicate @param {string} what @param {number} timeoutMs */
async function until(predicate, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
/** @param {number[]} values */
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' / ');

const tree = await ensureDependencyTree({ version: NODE24, production: false });
const node24Dir = join(root, '.cache', 'node24-bench');
copyCheckout(node24Dir, tree.nodeModules);
const runtimes = [
  { label: `Node ${process.version} (the machine's)`, node: process.execPath, cli: join(root, 'dist', 'cli.js') },
  { label: `Node v${NODE24}`, node: tree.runtime.bin, cli: join(node24Dir, 'dist', 'cli.js') },
];
for (const r of runtimes) {
  const version = await new Promise((ok) => {
    const p = spawn(r.node, ['-p', 'process.version'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', () => ok(out.trim()));
  });
  console.log(`${r.label}: ${r.node} → ${version}`);
}

const tmp = mkdtempSync(join(os.tmpdir(), 'etg-node-versions-'));
const loadAtStart = load();
const broker = await startBroker({ port: await findFreePort(), dataDir: join(tmp, 'kafka') });
const mosquitto = await startMosquitto({ dataDir: join(tmp, 'mosquitto') });
const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();

let unique = 0;
/** @param {{ label: string, node: string, cli: string }} runtime */
async function measure(runtime) {
  unique += 1;
  const id = `nv-${unique}`;
  const base = `nv/${unique}`;
  const topic = `${id}.readings`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  const dir = mkdtempSync(join(tmp, 'gw-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    stringify({
      gateway: { id },
      logging: { level: 'info' },
      buffer: { path: join(dir, 'buffer.db') },
      kafka: { brokers: [broker.bootstrap], topics: { prefix: `${id}.` } },
      http: { port: 0 },
      inputs: [
        {
          type: 'mqtt',
          name: 'bench',
          url: mosquitto.url,
          clientId: `${id}-mqtt`,
          subscriptions: [
            { topic: `${base}/+`, deviceId: '{2}', timestamp: { field: 't', format: 'unix-ms' }, metrics: [{ field: 'temperature', metric: 'temperature', unit: 'Cel' }] },
          ],
        },
      ],
    }),
  );
  const spawnedAt = performance.now();
  let readyAt = 0;
  let subscribed = false;
  const gw = spawn(runtime.node, [runtime.cli, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  gw.stderr.on('data', (d) => (stderr += d));
  let partial = '';
  gw.stdout.on('data', (d) => {
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!readyAt && line.includes('"msg":"gateway started"')) readyAt = performance.now();
      if (line.includes('"msg":"mqtt subscribed"')) subscribed = true;
    }
  });
  const exited = new Promise((r) => gw.once('exit', r));
  const pid = gw.pid ?? 0;
  await until(() => {
    if (gw.exitCode !== null) throw new Error(`${runtime.label}: gateway exited ${gw.exitCode}: ${stderr.slice(-2000)}`);
    return readyAt > 0 && subscribed;
  }, `${runtime.label}: the gateway to subscribe`, 120_000);
  const readyMs = readyAt - spawnedAt;
  await sleep(Math.max(0, IDLE_MS - (performance.now() - spawnedAt)));
  const idleRss = rssMb(pid);

  const cpu0 = cpuSeconds(pid);
  const started = Date.now();
  const publisher = spawn(process.execPath, [join(root, 'bench', 'publisher.mjs'), '--url', mosquitto.url, '--base', base, '--count', String(MESSAGES), '--devices', String(DEVICES)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const published = new Promise((r) => publisher.once('exit', r));
  let lastCountAt = started;
  await until(async () => {
    const offsets = await admin.fetchTopicOffsets(topic);
    const count = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    lastCountAt = Date.now();
    return count >= MESSAGES;
  }, `${runtime.label}: ${MESSAGES} records on ${topic}`, 900_000);
  const rate = MESSAGES / ((lastCountAt - started) / 1000);
  const cpuPer1k = ((cpuSeconds(pid) - cpu0) * 1000) / (MESSAGES / 1000);
  const peakRss = peakRssMb(pid);
  if ((await published) !== 0) throw new Error('the publisher failed');
  gw.kill('SIGTERM');
  await exited;
  rmSync(dir, { recursive: true, force: true });
  return { readyMs, idleRss, rate, cpuPer1k, peakRss, load: os.loadavg()[0] };
}

/** @type {Map<string, Awaited<ReturnType<typeof measure>>[]>} */
const results = new Map(runtimes.map((r) => [r.label, []]));
try {
  for (let run = 0; run < RUNS; run++) {
    const order = run % 2 === 0 ? runtimes : [...runtimes].reverse();
    for (const runtime of order) {
      const r = await measure(runtime);
      results.get(runtime.label)?.push(r);
      console.log(`run ${run + 1} ${runtime.label}: ready ${r.readyMs.toFixed(0)} ms, idle RSS ${r.idleRss.toFixed(1)} MB, ${r.rate.toFixed(0)} msg/s, ${r.cpuPer1k.toFixed(1)} CPU ms/1k, peak RSS ${r.peakRss.toFixed(1)} MB (load ${r.load.toFixed(1)})`);
    }
  }
} finally {
  await admin.disconnect();
  await mosquitto.stop();
  await broker.stop();
  rmSync(tmp, { recursive: true, force: true });
  rmSync(node24Dir, { recursive: true, force: true });
}

const cpu = os.cpus();
console.log(`\nMeasured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpu.length} × ${cpu[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; load average at the start ${loadAtStart}, at the end ${load()}.`);
console.log(`Command: \`node bench/node-versions.mjs --runs ${RUNS} --messages ${MESSAGES} --idle-seconds ${IDLE_MS / 1000}\`. Median of ${RUNS} runs (min–max); Node 20 and 24 alternate.\n`);
console.log('| Node | start → gateway started, ms | idle RSS, MB | full speed, msg/s | CPU ms / 1k events | peak RSS, MB | 1-min load during runs |');
console.log('|---|---:|---:|---:|---:|---:|---|');
const cell = (/** @type {number[]} */ v, /** @type {number} */ digits) =>
  `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)})`;
for (const [label, rs] of results) {
  console.log(
    `| ${label} | ${cell(rs.map((r) => r.readyMs), 0)} | ${cell(rs.map((r) => r.idleRss), 1)} | ${cell(rs.map((r) => r.rate), 0)} | ` +
      `${cell(rs.map((r) => r.cpuPer1k), 1)} | ${cell(rs.map((r) => r.peakRss), 1)} | ${Math.min(...rs.map((r) => r.load)).toFixed(1)}–${Math.max(...rs.map((r) => r.load)).toFixed(1)} |`,
  );
}
