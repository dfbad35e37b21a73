// npm run bench: the gateway side by side with its ceilings and the baseline a user would write instead, all
// measured in the same run on the same machine. Every row is the median of --runs runs (default 3) with the
// spread (min–max); prints ONE table and rewrites the generated section of BENCHMARKS.md.
//
//   node bench/run.mjs [--quick] [--runs 3] [--messages 100000] [--backlog 1000000] [--rate-seconds 10]
//                      [--fleet-messages 5000] [--only mqtt,sqlite,kafka,naive,gateway,rates,drain,modbus,fleet]
//                      [--prof DIR] [--cli dist/cli.js: another build's CLI, for before/after] [--commit-linger MS] [--batch-linger MS] [--no-write]
//                      [--node-options FLAGS: NODE_OPTIONS of the gateways; default the systemd unit's]
//                      [--clients librdkafka,kafkajs: the gateway rows once per Kafka client] [--cloud-events binary|structured]
//
// Load generators (MQTT publishers, kcat, the buffer filler, the Modbus simulator) run in their own processes.
// --prof DIR starts every gateway with --cpu-prof into DIR and prints its top self-time functions.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { findFreePort, startBroker } from '../scripts/kafka-broker.mjs';
import { startMosquitto } from '../scripts/mosquitto.mjs';
import { coreShares, cpuSeconds, peakRssMb } from './proc-stats.mjs';
import { topSelf } from './top-self.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    messages: { type: 'string' },
    devices: { type: 'string', default: '50' },
    backlog: { type: 'string' },
    'rate-seconds': { type: 'string' },
    'fleet-gateways': { type: 'string', default: '8' },
    'fleet-messages': { type: 'string' },
    only: { type: 'string' },
    prof: { type: 'string' },
    cli: { type: 'string' },
    'commit-linger': { type: 'string' },
    'batch-linger': { type: 'string' },
    clients: { type: 'string', default: 'librdkafka,kafkajs' },
    'cloud-events': { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    'node-options': { type: 'string' },
  },
});
const quick = args.quick;
// --quick: 2 runs per row (the gateway rows run once per client, so 3 would not fit in 3 minutes); record with 3.
const RUNS = Number(args.runs ?? (quick ? 2 : 3));
const MESSAGES = Number(args.messages ?? (quick ? 20_000 : 100_000));
const DEVICES = Number(args.devices);
const BACKLOG = Number(args.backlog ?? (quick ? 100_000 : 1_000_000));
const RATE_SECONDS = Number(args['rate-seconds'] ?? (quick ? 3 : 10));
/** Seconds published at the fixed rate before a rate row starts counting (steady state, not start-up). */
const WARMUP_SECONDS = quick ? 1 : 2;
/**
 * The node options every gateway process runs with: the systemd unit's `Environment=NODE_OPTIONS=`, so the gateway
 * rows measure the gateway as installed; `--node-options ''` (or other flags) for a side-by-side baseline.
 */
const GATEWAY_NODE_OPTIONS =
  args['node-options'] ?? /^Environment=NODE_OPTIONS=(.*)$/m.exec(readFileSync(join(root, 'systemd', 'edge-telemetry-gateway.service'), 'utf8'))?.[1] ?? '';
const FLEET_GATEWAYS = Number(args['fleet-gateways']);
const FLEET_MESSAGES = Number(args['fleet-messages'] ?? (quick ? 1_000 : 5_000));
const ONLY = args.only ? new Set(args.only.split(',')) : undefined;
const wants = (group) => !ONLY || ONLY.has(group);
const SYNC = 'FULL';
/** The gateway rows run once per Kafka client, side by side in the same run (default client first). */
const CLIENTS = args.clients.split(',').filter(Boolean);

const tmp = mkdtempSync(join(os.tmpdir(), 'etg-bench-'));
const log = (line) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)} load ${loadNow()}] ${line}\n`);
const loadNow = () => os.loadavg()[0].toFixed(1);
if (args.prof) mkdirSync(args.prof, { recursive: true });

const kafkaPort = await findFreePort();
log(`starting Kafka on ${kafkaPort} and a private Mosquitto...`);
const broker = await startBroker({ port: kafkaPort, dataDir: join(tmp, 'kafka'), heapMb: 768 });
const mosquitto = await startMosquitto({ dataDir: join(tmp, 'mosquitto') });
const kafka = new Kafka({ clientId: 'bench', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
let unique = 0;

// ---- helpers ---------------------------------------------------------------------------------------------------

function runProcess(command, argv, { onLine, env } = {}) {
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  const lines = [];
  const stderr = [];
  let partial = '';
  child.stdout.on('data', (chunk) => {
    partial += chunk.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      onLine?.(line);
    }
  });
  child.stderr.on('data', (chunk) => {
    stderr.push(chunk.toString());
    if (stderr.length > 50) stderr.shift();
  });
  const exited = new Promise((r) => child.once('exit', (code) => r(code)));
  return { child, lines, stderr, exited };
}
const runNode = (script, argv, opts) => runProcess(process.execPath, [script, ...argv], opts);

async function runNodeJson(script, argv) {
  const p = runNode(script, argv);
  const code = await p.exited;
  if (code !== 0) throw new Error(`${script} exited ${code}: ${p.stderr.join('').slice(-2000)}`);
  return JSON.parse(p.lines.at(-1));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(predicate, what, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function publish(base, count, rate = 0, prefix = 'dev-') {
  return runNodeJson(join(root, 'bench', 'publisher.mjs'), ['--url', mosquitto.url, '--base', base, '--count', String(count), '--devices', String(DEVICES), '--rate', String(rate), '--prefix', prefix]);
}

async function createTopic(topic, numPartitions = 3) {
  await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true });
}

/** Records on a topic, from the partition high-water marks (cheap: no consumer needed). */
async function topicCount(topic) {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
}

/** Counts records on a topic as they arrive; latency = arrival − publish time carried in the record. */
async function topicWatcher(topic) {
  await createTopic(topic);
  const consumer = kafka.consumer({ groupId: `bench-${topic}`, maxWaitTimeInMs: 20, minBytes: 1, maxBytes: 50 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const state = { count: 0, first: 0, last: 0, latencies: [] };
  await consumer.run({
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages) {
        const value = m.value.toString();
        // sourceTime / "t" is the publish time: a regex is cheaper than JSON.parse and keeps the watcher fast.
        const iso = /"sourceTime":"([^"]+)"/.exec(value)?.[1];
        const sent = iso ? Date.parse(iso) : Number(/"t":(\d+)/.exec(value)?.[1]);
        state.latencies.push(now - sent);
        state.count += 1;
      }
      if (state.first === 0) state.first = now;
      state.last = now;
    },
  });
  return {
    state,
    until: (n, timeoutMs = 600_000) => until(() => state.count >= n, `${n} records on ${topic} (have ${state.count})`, timeoutMs),
    stop: () => consumer.disconnect(),
  };
}

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** coreShares() as flat result keys (cores.machine, cores.gateway, …), so medianOf() takes the median of each. */
function coreColumns(shares) {
  return Object.fromEntries(Object.entries(shares).map(([name, cores]) => [`cores.${name}`, cores]));
}

function gatewayConfig({ id, prefix, base, bufferPath, synchronous = SYNC, client = CLIENTS[0] }) {
  return {
    gateway: { id },
    logging: { level: 'info' },
    buffer: { path: bufferPath, synchronous, ...(args['commit-linger'] ? { commitLinger: Number(args['commit-linger']) } : {}) },
    kafka: {
      client,
      brokers: [broker.bootstrap],
      topics: { prefix },
      ...(args['cloud-events'] ? { cloudEvents: args['cloud-events'] } : {}),
      ...(args['batch-linger'] ? { batch: { maxEvents: 5000, maxBytes: 900_000, linger: Number(args['batch-linger']) } } : {}),
    },
    inputs: [
      {
        type: 'mqtt',
        name: 'bench',
        url: mosquitto.url,
        clientId: `${id}-mqtt`,
        subscriptions: [
          {
            topic: `${base}/+`,
            deviceId: `{${base.split('/').length}}`,
            timestamp: { field: 't', format: 'unix-ms' },
            metrics: [{ field: 'temperature', metric: 'temperature', unit: 'Cel' }],
          },
        ],
      },
    ],
  };
}

/** Starts `telemetry-gateway run`; resolves once its MQTT subscription is live, with the time to 'gateway started'. */
async function startGateway(options) {
  unique += 1;
  const dir = mkdtempSync(join(tmp, 'gw-'));
  const config = gatewayConfig({ id: `bench-${unique}`, bufferPath: join(dir, 'buffer.db'), ...options });
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify(config));
  const nodeArgs = args.prof ? ['--cpu-prof', '--cpu-prof-dir', args.prof, '--cpu-prof-name', `gateway-${options.label ?? 'gw'}-${unique}.cpuprofile`] : [];
  const spawnedAt = performance.now();
  let readyAt = 0;
  const gw = runProcess(process.execPath, [...nodeArgs, args.cli ?? join(root, 'dist', 'cli.js'), 'run', '--config', file], {
    env: { ...process.env, NODE_OPTIONS: GATEWAY_NODE_OPTIONS },
    onLine: (line) => {
      if (readyAt === 0 && line.includes('"msg":"gateway started"')) readyAt = performance.now();
    },
  });
  gw.config = config;
  // Ready once its subscription is live: messages published before would not reach its new session.
  await until(() => {
    if (gw.child.exitCode !== null) throw new Error(`gateway exited:\n${gw.lines.slice(-20).join('\n')}${gw.stderr.join('')}`);
    return readyAt > 0 && gw.lines.some((l) => l.includes('"msg":"mqtt subscribed"'));
  }, 'the gateway to subscribe', 60_000);
  gw.readyMs = readyAt - spawnedAt;
  return gw;
}

async function stopProcess(p) {
  if (p.child.exitCode === null) p.child.kill('SIGTERM');
  await p.exited;
}

// ---- scenarios -------------------------------------------------------------------------------------------------

async function mosquittoCeiling() {
  unique += 1;
  const base = `bench/ceiling${unique}`;
  const sub = await mqtt.connectAsync(mosquitto.url, { clientId: `ceiling-sub-${unique}`, clean: true });
  let received = 0;
  let last = 0;
  sub.on('message', () => {
    received += 1;
    last = Date.now();
  });
  await sub.subscribeAsync(`${base}/+`, { qos: 1 });
  const shares = coreShares({ mosquitto: mosquitto.pid });
  const started = Date.now();
  const published = await publish(base, MESSAGES);
  await until(() => received >= MESSAGES, 'the ceiling subscriber');
  const cores = shares({ publisher: published.cpuSeconds });
  await sub.endAsync();
  return { rate: MESSAGES / ((last - started) / 1000), ...coreColumns(cores) };
}

/** A record as the gateway sends it: the same key, a payload of the same shape and size, the 7 CloudEvents headers. */
function sampleRecordLine(n) {
  const deviceId = `dev-${n % DEVICES}`;
  const t = new Date().toISOString();
  const payload = JSON.stringify({ schemaVersion: 2, id: '019acd3e-5d2b-7c41-9a61-3c2f0b8e4d17', gatewayId: 'bench-kcat', seq: n, type: 'reading', deviceId, sourceTime: t, receivedAt: t, metric: 'temperature', value: 20 + (n % 100) / 10, unit: 'Cel', quality: 'good', source: `bench/kcat/${deviceId}` });
  return `${deviceId}\t${payload}`;
}

async function kcatCeiling() {
  unique += 1;
  const topic = `bench.kcat${unique}`;
  await createTopic(topic);
  const file = join(tmp, `kcat-${unique}.txt`);
  const lines = [];
  for (let n = 0; n < MESSAGES; n++) lines.push(sampleRecordLine(n));
  writeFileSync(file, `${lines.join('\n')}\n`);
  const headers = ['ce_specversion=1.0', 'ce_id=019acd3e-5d2b-7c41-9a61-3c2f0b8e4d17', 'ce_source=/edge-telemetry-gateway/bench-kcat', 'ce_type=io.edge-telemetry-gateway.reading.v1', `ce_time=${new Date().toISOString()}`, 'ce_subject=dev-0', 'content-type=application/json'];
  const shares = coreShares({ kafka: broker.pid });
  const started = performance.now();
  const kcat = runProcess('kcat', ['-P', '-b', broker.bootstrap, '-t', topic, '-K', '\t', '-X', 'enable.idempotence=true', '-X', 'acks=all', ...headers.flatMap((h) => ['-H', h]), '-l', file]);
  const code = await kcat.exited;
  if (code !== 0) throw new Error(`kcat exited ${code}: ${kcat.stderr.join('')}`);
  await until(async () => (await topicCount(topic)) >= MESSAGES, 'kcat records');
  const cores = shares();
  return { rate: MESSAGES / ((performance.now() - started) / 1000), ...coreColumns(cores) };
}

async function bufferAppend() {
  const r = await runNodeJson(join(root, 'bench', 'buffer-append.mjs'), ['--events', String(quick ? 50_000 : 200_000), '--runs', '1', '--sync', SYNC]);
  return { raw: r.rawPerSec, buffer: r.bufferPerSec };
}

async function naiveBridge() {
  unique += 1;
  const base = `bench/naive${unique}`;
  const topic = `bench.naive${unique}`;
  const watcher = await topicWatcher(topic);
  const bridge = runNode(join(root, 'bench', 'naive-bridge.mjs'), ['--url', mosquitto.url, '--base', base, '--brokers', broker.bootstrap, '--topic', topic]);
  await until(() => bridge.lines.includes('ready'), 'the naive bridge', 60_000);
  const cpu0 = cpuSeconds(bridge.child.pid);
  const started = Date.now();
  await publish(base, MESSAGES);
  await watcher.until(MESSAGES);
  const rate = MESSAGES / ((watcher.state.last - started) / 1000);
  const cpuPer1k = ((cpuSeconds(bridge.child.pid) - cpu0) * 1000) / (MESSAGES / 1000);
  const rss = peakRssMb(bridge.child.pid);
  await stopProcess(bridge);
  await watcher.stop();
  const lat = watcher.state.latencies;
  return { rate, p50: percentile(lat, 50), p99: percentile(lat, 99), p999: percentile(lat, 99.9), rss, cpuPer1k };
}

async function gatewayFullSpeed(client) {
  const base = `bench/gw${unique + 1}`;
  const prefix = `bench${unique + 1}.`;
  const watcher = await topicWatcher(`${prefix}readings`);
  const gw = await startGateway({ prefix, base, label: `max-${client}`, client });
  const cpu0 = cpuSeconds(gw.child.pid);
  const js0 = cpuSeconds(gw.child.pid, gw.child.pid);
  const shares = coreShares({ gateway: gw.child.pid, kafka: broker.pid, mosquitto: mosquitto.pid });
  const started = Date.now();
  const published = await publish(base, MESSAGES);
  await watcher.until(MESSAGES);
  const cores = shares({ publisher: published.cpuSeconds });
  const rate = MESSAGES / ((watcher.state.last - started) / 1000);
  const cpuPer1k = ((cpuSeconds(gw.child.pid) - cpu0) * 1000) / (MESSAGES / 1000);
  const jsCpuPer1k = ((cpuSeconds(gw.child.pid, gw.child.pid) - js0) * 1000) / (MESSAGES / 1000);
  const rss = peakRssMb(gw.child.pid);
  await stopProcess(gw);
  await watcher.stop();
  const lat = watcher.state.latencies;
  return { rate, p50: percentile(lat, 50), p99: percentile(lat, 99), p999: percentile(lat, 99.9), rss, cpuPer1k, jsCpuPer1k, readyMs: gw.readyMs, ...coreColumns(cores) };
}

async function gatewayAtRate(rate, client) {
  const base = `bench/gwr${unique + 1}`;
  const prefix = `benchr${unique + 1}.`;
  const count = rate * RATE_SECONDS;
  const warmup = rate * WARMUP_SECONDS;
  const watcher = await topicWatcher(`${prefix}readings`);
  const gw = await startGateway({ prefix, base, label: `rate${rate}-${client}`, client });
  // Steady state: the first seconds (JIT warm-up, Kafka metadata and connection) are published at the same rate
  // and delivered, but neither their CPU nor their latency is counted.
  await publish(base, warmup, rate);
  await watcher.until(warmup);
  const counted = watcher.state.latencies.length;
  const cpu0 = cpuSeconds(gw.child.pid);
  const js0 = cpuSeconds(gw.child.pid, gw.child.pid);
  const published = await publish(base, count, rate);
  await watcher.until(warmup + count);
  const cpuPer1k = ((cpuSeconds(gw.child.pid) - cpu0) * 1000) / (count / 1000);
  const jsCpuPer1k = ((cpuSeconds(gw.child.pid, gw.child.pid) - js0) * 1000) / (count / 1000);
  const rss = peakRssMb(gw.child.pid);
  await stopProcess(gw);
  await watcher.stop();
  const lat = watcher.state.latencies.slice(counted);
  return { rate: published.rate, p50: percentile(lat, 50), p99: percentile(lat, 99), p999: percentile(lat, 99.9), rss, cpuPer1k, jsCpuPer1k, readyMs: gw.readyMs };
}

/**
 * The floor under the 1,000 msg/s row: a bare MQTT.js QoS 1 subscriber (bench/bare-subscriber.mjs) receiving the same
 * messages at the same rate, with the same warm-up not counted. Whatever a Node gateway built on the mqtt package
 * does besides receiving (commit, stamping, Kafka) comes on top of this CPU.
 */
async function bareSubscriberAtRate(rate) {
  unique += 1;
  const base = `bench/bare${unique}`;
  const count = rate * RATE_SECONDS;
  const warmup = rate * WARMUP_SECONDS;
  const sub = runNode(join(root, 'bench', 'bare-subscriber.mjs'), ['--url', mosquitto.url, '--topic', `${base}/+`, '--count', String(warmup + count), '--warmup', String(warmup)]);
  await until(() => {
    if (sub.child.exitCode !== null) throw new Error(`bare subscriber exited: ${sub.stderr.join('')}`);
    return sub.lines.includes('ready');
  }, 'the bare subscriber', 60_000);
  await publish(base, warmup, rate);
  const published = await publish(base, count, rate);
  const code = await sub.exited;
  if (code !== 0) throw new Error(`bare subscriber exited ${code}: ${sub.stderr.join('')}`);
  const r = JSON.parse(sub.lines.at(-1));
  return { rate: published.rate, cpuPer1k: r.cpuPer1k, rss: r.rss };
}

/** A buffer file with `events` pending readings, filled once per size and copied for every run. */
const backlogFiles = new Map();
async function backlogFile(events, gatewayId) {
  const key = `${events}`;
  if (!backlogFiles.has(key)) {
    const path = join(tmp, `backlog-${events}.db`);
    log(`filling a buffer with ${events.toLocaleString('en-US')} events (SqliteBuffer, synchronous=NORMAL, separate process)`);
    const r = await runNodeJson(join(root, 'bench', 'fill-buffer.mjs'), ['--path', path, '--events', String(events), '--devices', String(DEVICES), '--gateway-id', gatewayId]);
    log(`filled at ${Math.round(r.rate).toLocaleString('en-US')} events/s`);
    backlogFiles.set(key, path);
  }
  return backlogFiles.get(key);
}

/** Gateway started on a buffer holding `events` pending events with Kafka up: drain rate and peak RSS while draining. */
async function drain(events, client) {
  const source = await backlogFile(events, 'bench-drain');
  const dir = mkdtempSync(join(tmp, 'drain-'));
  const bufferPath = join(dir, 'buffer.db');
  copyFileSync(source, bufferPath);
  const prefix = `benchd${unique + 1}.`;
  await createTopic(`${prefix}readings`);
  const gw = await startGateway({ prefix, base: `bench/drain${unique + 1}`, bufferPath, label: `drain${events}-${client}`, client });
  const cpu0 = cpuSeconds(gw.child.pid);
  const js0 = cpuSeconds(gw.child.pid, gw.child.pid);
  const shares = coreShares({ gateway: gw.child.pid, kafka: broker.pid });
  const started = performance.now();
  await until(async () => (await topicCount(`${prefix}readings`)) >= events, `drain of ${events}`, 1_800_000);
  const seconds = (performance.now() - started) / 1000;
  const cores = shares();
  const cpuPer1k = ((cpuSeconds(gw.child.pid) - cpu0) * 1000) / (events / 1000);
  const jsCpuPer1k = ((cpuSeconds(gw.child.pid, gw.child.pid) - js0) * 1000) / (events / 1000);
  const rss = peakRssMb(gw.child.pid);
  await stopProcess(gw);
  rmSync(dir, { recursive: true, force: true });
  return { rate: events / seconds, rss, cpuPer1k, jsCpuPer1k, readyMs: gw.readyMs, ...coreColumns(cores) };
}

async function modbus() {
  const results = await runNodeJson(join(root, 'bench', 'modbus-poll.mjs'), ['--json', '--layout', 'one-bus', '--seconds', quick ? '5' : '10', '--warmup', '2']);
  const r = results[0];
  return { rate: Number(r['requests/s']), readings: Number(r['readings/s']), cpuPct: Number(r['cpu %']), p99: Number(r['jitter p99 ms']), failed: r.failed };
}

async function fleet() {
  unique += 1;
  const prefix = `fleet${unique}.`;
  const topic = `${prefix}readings`;
  const partitions = 12;
  await createTopic(topic, partitions);
  const gateways = [];
  for (let g = 0; g < FLEET_GATEWAYS; g++) gateways.push(await startGateway({ prefix, base: `fleet${unique}/gw${g}`, label: `fleet${g}` }));
  const total = FLEET_GATEWAYS * FLEET_MESSAGES;
  const cpu0 = gateways.map((gw) => cpuSeconds(gw.child.pid));
  const started = performance.now();
  // Device ids are unique across the fleet (g<gateway>-dev-<n>): the record key is the device id.
  await Promise.all(gateways.map((gw, g) => publish(gw.config.inputs[0].subscriptions[0].topic.slice(0, -2), FLEET_MESSAGES, 0, `g${g}-dev-`)));
  await until(async () => (await topicCount(topic)) >= total, 'fleet records', 1_800_000);
  const seconds = (performance.now() - started) / 1000;
  const cpu = gateways.reduce((sum, gw, i) => sum + cpuSeconds(gw.child.pid) - cpu0[i], 0);
  const rss = Math.max(...gateways.map((gw) => peakRssMb(gw.child.pid)));
  await Promise.all(gateways.map(stopProcess));
  const offsets = await admin.fetchTopicOffsets(topic);
  const perPartition = offsets.map((p) => Number(p.high) - Number(p.low));
  const audit = runNode(join(root, 'dist', 'cli.js'), ['audit', '--brokers', broker.bootstrap, '--topic', topic, '--json', '--strict', '--timeout', '5m']);
  await audit.exited;
  const report = JSON.parse(audit.lines.join('\n'));
  const mean = total / partitions;
  return {
    rate: total / seconds,
    rss,
    cpuPer1k: (cpu * 1000) / (total / 1000),
    streams: report.streams.length,
    outOfOrder: report.totals.outOfOrder,
    missing: report.totals.missing,
    duplicates: report.totals.duplicateIds,
    clean: report.clean ? 1 : 0,
    partitionMin: Math.min(...perPartition),
    partitionMax: Math.max(...perPartition),
    partitionSkew: Math.max(...perPartition) / mean,
  };
}

async function medianOf(name, fn) {
  const results = [];
  const loads = [];
  for (let i = 0; i < RUNS; i++) {
    log(`${name}: run ${i + 1}/${RUNS}`);
    loads.push(os.loadavg()[0]);
    const r = await fn();
    log(`${name}: ${JSON.stringify(r, (_k, v) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v))}`);
    results.push(r);
  }
  const median = {};
  const spread = {};
  for (const key of Object.keys(results[0])) {
    const values = results.map((r) => r[key]).sort((a, b) => a - b);
    median[key] = values[Math.floor(values.length / 2)];
    spread[key] = [values[0], values.at(-1)];
  }
  return { name, median, spread, runs: results, load: [Math.min(...loads), Math.max(...loads)] };
}

function gatewayProfiles(label) {
  if (!args.prof) return;
  for (const f of readdirSync(args.prof).filter((f) => f.includes(`gateway-${label}-`) && f.endsWith('.cpuprofile'))) {
    const r = topSelf(join(args.prof, f), 15);
    log(`profile ${f}: ${r.busyMs} ms busy of ${r.totalMs} ms`);
    for (const row of r.rows) process.stderr.write(`${String(row.ms).padStart(7)} ms ${String(row.pctBusy).padStart(5)}%  ${row.fn}\n`);
  }
}

// ---- the suite -------------------------------------------------------------------------------------------------

const machineLoad = os.loadavg();
const R = {};
try {
  if (wants('mqtt')) R.mqtt = await medianOf('Mosquitto QoS 1 publish→subscribe', mosquittoCeiling);
  if (wants('kafka')) R.kafka = await medianOf('kcat producer', kcatCeiling);
  if (wants('sqlite')) R.sqlite = await medianOf('SQLite append', bufferAppend);
  if (wants('naive')) R.naive = await medianOf('naive bridge', naiveBridge);
  if (wants('rates')) R.bare1k = await medianOf('bare MQTT.js subscriber at 1,000/s', () => bareSubscriberAtRate(1000));
  for (const client of CLIENTS) {
    if (wants('gateway')) {
      R[`gateway:${client}`] = await medianOf(`gateway full speed (${client})`, () => gatewayFullSpeed(client));
      gatewayProfiles(`max-${client}`);
    }
    if (wants('rates')) {
      R[`rate1k:${client}`] = await medianOf(`gateway at 1,000/s (${client})`, () => gatewayAtRate(1000, client));
      R[`rate10k:${client}`] = await medianOf(`gateway at 10,000/s (${client})`, () => gatewayAtRate(10000, client));
      gatewayProfiles(`rate10000-${client}`);
    }
    if (wants('drain')) {
      R[`drain:${client}`] = await medianOf(`drain ${BACKLOG} (${client})`, () => drain(BACKLOG, client));
      gatewayProfiles(`drain${BACKLOG}-${client}`);
    }
  }
  if (wants('modbus')) R.modbus = await medianOf('Modbus one bus', modbus);
  if (wants('fleet')) R.fleet = await medianOf('fleet', fleet);
} finally {
  await admin.disconnect().catch(() => undefined);
  await mosquitto.stop();
  await broker.stop();
}

// ---- the table -------------------------------------------------------------------------------------------------

const fmt = (v, d = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${fmt(a / b, 2)}×` : '–');
const rows = [];
/** value: { median, spread:[lo,hi] }; extra columns are strings. */
function row(what, unit, r, key, { ceiling = '–', naive = '–', p50 = '–', p99 = '–', p999 = '–', rss = '–', cpu = '–', target = '', digits = 0 } = {}) {
  if (!r) return;
  const m = r.median[key];
  const [lo, hi] = r.spread[key];
  const load = `${fmt(r.load[0], 1)}–${fmt(r.load[1], 1)}`;
  rows.push(`| ${what} | ${fmt(m, digits)} ${unit} | ${fmt(lo, digits)}–${fmt(hi, digits)} | ${p50} | ${p99} | ${p999} | ${rss} | ${cpu} | ${ceiling} | ${naive} | ${target} | ${load} |`);
}
const ms = (r, k) => (r ? fmt(r.median[k]) : '–');
const mb = (r) => (r ? fmt(r.median.rss, 1) : '–');
/** Process CPU per 1,000 events, and the JavaScript thread's share where measured (the rest is librdkafka's or libuv's threads). */
const cpuMs = (r) => (r ? `${fmt(r.median.cpuPer1k, 1)}${Number.isFinite(r.median.jsCpuPer1k) ? ` (JS ${fmt(r.median.jsCpuPer1k, 1)})` : ''}` : '–');
const met = (ok) => (ok ? 'met' : '**not met**');
const naiveRate = R.naive?.median.rate;

row('**Ceiling** Mosquitto QoS 1 publish→subscribe', 'msg/s', R.mqtt, 'rate', { ceiling: '1.00×', naive: ratio(R.mqtt?.median.rate, naiveRate) });
row('**Ceiling** kcat producing the same records (idempotent, acks=all)', 'rec/s', R.kafka, 'rate', { ceiling: '1.00×', naive: ratio(R.kafka?.median.rate, naiveRate) });
if (R.sqlite) {
  const raw = { ...R.sqlite, median: { rate: R.sqlite.median.raw }, spread: { rate: R.sqlite.spread.raw } };
  const buf = { ...R.sqlite, median: { rate: R.sqlite.median.buffer }, spread: { rate: R.sqlite.spread.buffer } };
  row(`**Ceiling** raw better-sqlite3 batched inserts (${SYNC}, same rows)`, 'ev/s', raw, 'rate', { ceiling: '1.00×' });
  row(`Gateway buffer append (SqliteBuffer, ${SYNC}, group commit)`, 'ev/s', buf, 'rate', {
    ceiling: ratio(buf.median.rate, raw.median.rate),
    target: `≥ 0.50× raw: ${met(buf.median.rate >= 0.5 * raw.median.rate)}`,
  });
}
const lat = (r) => ({ p50: ms(r, 'p50'), p99: ms(r, 'p99'), p999: ms(r, 'p999'), rss: mb(r), cpu: cpuMs(r) });
row('**Baseline** naive mqtt→kafkajs bridge (no buffer), full speed', 'msg/s', R.naive, 'rate', { ...lat(R.naive), ceiling: ratio(naiveRate, R.mqtt?.median.rate), naive: '1.00×' });
row('**Floor** bare MQTT.js QoS 1 subscriber at 1,000 msg/s (receive, JSON.parse, PUBACK; no buffer, no Kafka)', 'msg/s', R.bare1k, 'rate', {
  rss: mb(R.bare1k),
  cpu: cpuMs(R.bare1k),
  target: R.bare1k ? `of the 1,000 msg/s row's ≤ 100 ms/1k, receiving alone takes ${fmt(R.bare1k.median.cpuPer1k)}` : '',
});
for (const client of CLIENTS) {
  const gateway = R[`gateway:${client}`];
  const rate1k = R[`rate1k:${client}`];
  const rate10k = R[`rate10k:${client}`];
  const drained = R[`drain:${client}`];
  const c = `[${client}]`;
  row(`Gateway MQTT→SQLite(${SYNC})→Kafka, full speed ${c}`, 'msg/s', gateway, 'rate', {
    ...lat(gateway),
    ceiling: ratio(gateway?.median.rate, R.mqtt?.median.rate),
    naive: ratio(gateway?.median.rate, naiveRate),
    target: gateway && R.mqtt ? `≥ 0.8× Mosquitto: ${met(gateway.median.rate >= 0.8 * R.mqtt.median.rate)}` : '',
  });
  row(`Gateway at 1,000 msg/s ${c}`, 'msg/s', rate1k, 'rate', {
    ...lat(rate1k),
    ceiling: ratio(rate1k?.median.rate, R.mqtt?.median.rate),
    naive: ratio(rate1k?.median.rate, naiveRate),
    target: rate1k
      ? `CPU ≤ 100 ms/1k: ${met(rate1k.median.cpuPer1k <= 100)}; p99 ≤ 50 ms: ${met(rate1k.median.p99 <= 50)}; RSS ≤ 120 MB: ${met(rate1k.median.rss <= 120)}`
      : '',
  });
  row(`Gateway at 10,000 msg/s ${c}`, 'msg/s', rate10k, 'rate', { ...lat(rate10k), ceiling: ratio(rate10k?.median.rate, R.mqtt?.median.rate), naive: ratio(rate10k?.median.rate, naiveRate) });
  row(`Gateway drain of a ${fmt(BACKLOG)}-event backlog (peak RSS while draining) ${c}`, 'ev/s', drained, 'rate', {
    rss: mb(drained),
    cpu: cpuMs(drained),
    ceiling: ratio(drained?.median.rate, R.kafka?.median.rate),
    naive: ratio(drained?.median.rate, naiveRate),
    target: drained ? `≥ 0.5× kcat: ${met(drained.median.rate >= 0.5 * (R.kafka?.median.rate ?? Infinity))}; RSS ≤ 160 MB: ${met(drained.median.rss <= 160)}` : '',
  });
  // The drain rows start on a copy of the filled file, which has no clean-stop seal: this start runs the start-up
  // quick_check, as after a crash. The ≤ 1 s target is for a restart after a clean stop (bench/ready-backlog.mjs).
  if (drained) row(`Gateway start → 'gateway started' (${fmt(BACKLOG)} pending, unsealed copy: with the start-up quick_check) ${c}`, 'ms', drained, 'readyMs', { target: 'after a clean stop: bench/ready-backlog.mjs' });
}
const starts = CLIENTS.flatMap((client) => ['gateway', 'rate1k', 'rate10k'].flatMap((k) => R[`${k}:${client}`]?.runs ?? []));
if (starts.length > 0) {
  const all = starts.map((r) => r.readyMs).sort((a, b) => a - b);
  const ready = { median: { readyMs: all[Math.floor(all.length / 2)] }, spread: { readyMs: [all[0], all.at(-1)] }, load: [Math.min(...Object.values(R).map((r) => r.load[0])), Math.max(...Object.values(R).map((r) => r.load[1]))] };
  row(`Gateway start → 'gateway started' (empty buffer, ${all.length} starts, all clients)`, 'ms', ready, 'readyMs', { target: `≤ 1,000 ms: ${met(ready.median.readyMs <= 1000)}` });
}
row('Modbus TCP polling, 100 devices × 20 registers at 1 Hz on one bus (requests/s of 100 due)', 'req/s', R.modbus, 'rate', {
  p99: R.modbus ? `jitter ${fmt(R.modbus.median.p99)}` : '–',
  cpu: R.modbus ? `${fmt(R.modbus.median.cpuPct, 1)} % of a core` : '–',
  ceiling: ratio(R.modbus?.median.rate, 100),
  digits: 1,
});
row(`**Fleet** ${FLEET_GATEWAYS} gateways × ${DEVICES} devices → 1 broker, 12 partitions (aggregate)`, 'msg/s', R.fleet, 'rate', {
  rss: R.fleet ? `${mb(R.fleet)} (max of one)` : '–',
  cpu: cpuMs(R.fleet),
  ceiling: ratio(R.fleet?.median.rate, R.mqtt?.median.rate),
  naive: ratio(R.fleet?.median.rate, naiveRate),
  target: R.fleet
    ? `audit --strict: ${R.fleet.median.streams} device streams, ${R.fleet.spread.outOfOrder[1]} out of order, ${R.fleet.spread.missing[1]} missing, ${R.fleet.spread.duplicates[1]} duplicate ids (worst run); partition records min ${fmt(R.fleet.median.partitionMin)} / max ${fmt(R.fleet.median.partitionMax)} (max/mean ${fmt(R.fleet.median.partitionSkew, 2)})`
    : '',
});

const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
const command = `npm run bench --${quick ? ' --quick' : ''}${args.runs ? ` --runs ${RUNS}` : ''}${args.messages ? ` --messages ${MESSAGES}` : ''}${args.backlog ? ` --backlog ${BACKLOG}` : ''}${args.only ? ` --only ${args.only}` : ''}${args['commit-linger'] ? ` --commit-linger ${args['commit-linger']}` : ''}${args['batch-linger'] ? ` --batch-linger ${args['batch-linger']}` : ''}${args.clients !== 'librdkafka,kafkajs' ? ` --clients ${args.clients}` : ''}${args['cloud-events'] ? ` --cloud-events ${args['cloud-events']}` : ''}${args['node-options'] !== undefined ? ` --node-options '${args['node-options']}'` : ''}`;
const header = [
  `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${os.cpus().length} × ${cpuModel}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.platform()} ${os.release()}, Node ${process.version}; Kafka single KRaft broker and Mosquitto on the same machine (loopback).`,
  `Load average (1/5/15 min) when the suite started: ${machineLoad.map((l) => l.toFixed(1)).join(' / ')}; the last column is the 1-min load at the start of the row's runs (other engineers' test runs share these 2 cores).`,
  `Command: \`${command}\`. Each row: median of ${RUNS} runs, spread = min–max. Full speed = ${fmt(MESSAGES)} QoS 1 messages from ${DEVICES} devices, 1,000 in flight, from a separate publisher process, timed until the last record is in Kafka; fixed rates publish for ${RATE_SECONDS} s after ${WARMUP_SECONDS} s of warm-up at the same rate that is not counted. Latency = consumer arrival − publish time. CPU = user+system of the gateway process (/proc/<pid>/stat) per 1,000 events, "JS" the share of its JavaScript (main) thread (/proc/<pid>/task/<pid>/stat; the rest runs on librdkafka's and libuv's threads). Peak RSS = VmHWM. Gateways run with \`NODE_OPTIONS=${GATEWAY_NODE_OPTIONS}\`${args['node-options'] === undefined ? ' (the systemd unit\'s)' : ''}.`,
].join('\n');
const table = [
  '| row | median | spread | p50 ms | p99 ms | p99.9 ms | peak RSS MB | CPU ms / 1k ev | vs ceiling | vs naive | target | load |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
  ...rows,
].join('\n');
// Where the machine's cores went during the rows that run flat out: on this 2-core box the brokers, the load
// generators and the gateway share the same cores, so a row's rate is bounded by all of them, not by the gateway alone.
const coreRows = [];
const cores = (r, name) => (r && Number.isFinite(r.median[`cores.${name}`]) ? fmt(r.median[`cores.${name}`], 2) : '–');
const coreRow = (what, r) => {
  if (r && Number.isFinite(r.median['cores.machine'])) coreRows.push(`| ${what} | ${cores(r, 'machine')} | ${cores(r, 'gateway')} | ${cores(r, 'kafka')} | ${cores(r, 'mosquitto')} | ${cores(r, 'publisher')} | ${cores(r, 'rest')} |`);
};
coreRow('Ceiling: Mosquitto QoS 1 publish→subscribe', R.mqtt);
coreRow('Ceiling: kcat producing the same records', R.kafka);
for (const client of CLIENTS) {
  coreRow(`Gateway full speed [${client}]`, R[`gateway:${client}`]);
  coreRow(`Gateway drain of ${fmt(BACKLOG)} [${client}]`, R[`drain:${client}`]);
}
const coresTable =
  coreRows.length === 0
    ? ''
    : [
        '',
        `Where the machine's ${os.cpus().length} cores went in the rows that run flat out (cores busy on average over the row, medians; the MQTT publisher's own count includes its start-up; "rest" = kcat, the subscriber or consumer that times the row, the OS):`,
        '',
        '| row | machine busy | gateway | Kafka broker | Mosquitto | MQTT publisher | rest |',
        '|---|---:|---:|---:|---:|---:|---:|',
        ...coreRows,
      ].join('\n');
process.stdout.write(`\n${header}\n\n${table}\n${coresTable}\n`);
const json = join(root, '.cache', 'bench-results.json');
mkdirSync(dirname(json), { recursive: true });
writeFileSync(json, JSON.stringify({ header, args, results: R }, null, 2));
if (!args['no-write']) {
  const file = join(root, 'BENCHMARKS.md');
  const section = `<!-- bench:suite:start -->\n${header}\n\n${table}\n${coresTable}${coresTable ? '\n' : ''}<!-- bench:suite:end -->`;
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\n<!-- bench:suite:start -->\n<!-- bench:suite:end -->\n';
  if (!doc.includes('<!-- bench:suite:start -->')) doc = doc.replace(/<!-- bench:mqtt:start -->[\s\S]*<!-- bench:mqtt:end -->/, '<!-- bench:suite:start -->\n<!-- bench:suite:end -->');
  doc = doc.replace(/<!-- bench:suite:start -->[\s\S]*<!-- bench:suite:end -->/, section);
  writeFileSync(file, doc);
  log(`wrote ${file}`);
}
rmSync(tmp, { recursive: true, force: true });
