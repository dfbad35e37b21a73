// npm run bench: MQTT QoS 1 → gateway → Kafka against the Mosquitto ceiling and a naive mqtt→kafkajs bridge, all in
// the same run on the same machine, each the median of --runs runs (default 3). Prints a table and rewrites the
// generated section of BENCHMARKS.md.
//
//   node bench/run.mjs [--runs 3] [--messages 100000] [--devices 50] [--sync FULL|NORMAL]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { findFreePort, startBroker } from '../scripts/kafka-broker.mjs';
import { startMosquitto } from '../scripts/mosquitto.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    messages: { type: 'string', default: '100000' },
    devices: { type: 'string', default: '50' },
    sync: { type: 'string', default: 'FULL' },
    'rate-seconds': { type: 'string', default: '15' },
  },
});
const RUNS = Number(args.runs);
const MESSAGES = Number(args.messages);
const DEVICES = Number(args.devices);
const tmp = mkdtempSync(join(os.tmpdir(), 'etg-bench-'));
const log = (line) => process.stderr.write(`${line}\n`);

const kafkaPort = await findFreePort();
log(`starting Kafka on ${kafkaPort} and a private Mosquitto...`);
const broker = await startBroker({ port: kafkaPort, dataDir: join(tmp, 'kafka'), heapMb: 768 });
const mosquitto = await startMosquitto({ dataDir: join(tmp, 'mosquitto') });
const kafka = new Kafka({ clientId: 'bench', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
let unique = 0;

function runNode(script, argv, { onLine } = {}) {
  const child = spawn(process.execPath, [script, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
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
  const exited = new Promise((r) => child.once('exit', (code) => r(code)));
  return { child, lines, exited };
}

async function publish(base, count, rate = 0) {
  const p = runNode(join(root, 'bench', 'publisher.mjs'), ['--url', mosquitto.url, '--base', base, '--count', String(count), '--devices', String(DEVICES), '--rate', String(rate)]);
  await p.exited;
  return JSON.parse(p.lines.at(-1));
}

/** Counts records on a topic as they arrive; latency = arrival − publish time carried in the record. */
async function topicWatcher(topic) {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: `bench-${topic}`, maxWaitTimeInMs: 20, minBytes: 1 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const state = { count: 0, first: 0, last: 0, latencies: [] };
  await consumer.run({
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages) {
        const event = JSON.parse(m.value.toString());
        const sent = Date.parse(event.sourceTime);
        state.latencies.push(now - sent);
        state.count += 1;
      }
      if (state.first === 0) state.first = now;
      state.last = now;
    },
  });
  return {
    state,
    async until(n, timeoutMs = 300_000) {
      const deadline = Date.now() + timeoutMs;
      while (state.count < n) {
        if (Date.now() > deadline) throw new Error(`only ${state.count}/${n} records on ${topic}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: () => consumer.disconnect(),
  };
}

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function peakRssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return NaN;
  }
}

async function startGateway(prefix, base) {
  const dir = mkdtempSync(join(tmp, 'gw-'));
  const config = {
    gateway: { id: `bench-${unique}` },
    logging: { level: 'info' },
    buffer: { path: join(dir, 'buffer.db'), synchronous: args.sync },
    kafka: { brokers: [broker.bootstrap], topics: { prefix } },
    inputs: [
      {
        type: 'mqtt',
        name: 'bench',
        url: mosquitto.url,
        clientId: `bench-gw-${unique}`,
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
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify(config));
  const gw = runNode(join(root, 'dist', 'cli.js'), ['run', '--config', file]);
  // Ready once its subscription is live: messages published before would not reach its new session.
  const deadline = Date.now() + 30_000;
  while (!gw.lines.some((l) => l.includes('"msg":"mqtt subscribed"'))) {
    if (gw.child.exitCode !== null || Date.now() > deadline) throw new Error(`gateway did not subscribe:\n${gw.lines.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
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
  let first = 0;
  let last = 0;
  sub.on('message', () => {
    received += 1;
    if (first === 0) first = Date.now();
    last = Date.now();
  });
  await sub.subscribeAsync(`${base}/+`, { qos: 1 });
  const started = Date.now();
  await publish(base, MESSAGES);
  while (received < MESSAGES) await new Promise((r) => setTimeout(r, 20));
  await sub.endAsync();
  return { rate: MESSAGES / ((last - started) / 1000) };
}

async function naiveBridge() {
  unique += 1;
  const base = `bench/naive${unique}`;
  const topic = `bench.naive${unique}`;
  const watcher = await topicWatcher(topic);
  const bridge = runNode(join(root, 'bench', 'naive-bridge.mjs'), ['--url', mosquitto.url, '--base', base, '--brokers', broker.bootstrap, '--topic', topic]);
  while (!bridge.lines.includes('ready')) await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await publish(base, MESSAGES);
  await watcher.until(MESSAGES);
  const rate = MESSAGES / ((watcher.state.last - started) / 1000);
  const rss = peakRssMb(bridge.child.pid);
  await stopProcess(bridge);
  await watcher.stop();
  return { rate, p50: percentile(watcher.state.latencies, 50), p99: percentile(watcher.state.latencies, 99), rss };
}

async function gatewayFullSpeed() {
  unique += 1;
  const base = `bench/gw${unique}`;
  const prefix = `bench${unique}.`;
  const watcher = await topicWatcher(`${prefix}readings`);
  const gw = await startGateway(prefix, base);
  const started = Date.now();
  await publish(base, MESSAGES);
  await watcher.until(MESSAGES);
  const rate = MESSAGES / ((watcher.state.last - started) / 1000);
  const rss = peakRssMb(gw.child.pid);
  await stopProcess(gw);
  await watcher.stop();
  return { rate, p50: percentile(watcher.state.latencies, 50), p99: percentile(watcher.state.latencies, 99), rss };
}

async function gatewayAtRate(rate) {
  unique += 1;
  const base = `bench/gwr${unique}`;
  const prefix = `benchr${unique}.`;
  const count = rate * Number(args['rate-seconds']);
  const watcher = await topicWatcher(`${prefix}readings`);
  const gw = await startGateway(prefix, base);
  await publish(base, count, rate);
  await watcher.until(count);
  const rss = peakRssMb(gw.child.pid);
  await stopProcess(gw);
  await watcher.stop();
  const lat = watcher.state.latencies;
  return { rate, p50: percentile(lat, 50), p99: percentile(lat, 99), p999: percentile(lat, 99.9), rss };
}

async function medianOf(name, fn) {
  const results = [];
  for (let i = 0; i < RUNS; i++) {
    log(`${name}: run ${i + 1}/${RUNS}`);
    results.push(await fn());
  }
  const keys = Object.keys(results[0]);
  const median = {};
  const spread = {};
  for (const key of keys) {
    const values = results.map((r) => r[key]).sort((a, b) => a - b);
    median[key] = values[Math.floor(values.length / 2)];
    spread[key] = [values[0], values.at(-1)];
  }
  return { name, median, spread, runs: results };
}

const rows = [];
try {
  const ceiling = await medianOf('Mosquitto QoS 1 publish→subscribe (ceiling)', mosquittoCeiling);
  rows.push(ceiling);
  const naive = await medianOf('naive mqtt→kafkajs bridge (baseline, no buffer)', naiveBridge);
  rows.push(naive);
  const gateway = await medianOf(`gateway MQTT→SQLite(${args.sync})→Kafka, full speed`, gatewayFullSpeed);
  rows.push(gateway);
  for (const rate of [1000, 10000]) rows.push(await medianOf(`gateway at ${rate} msg/s`, () => gatewayAtRate(rate)));

  const fmt = (v, d = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');
  const table = [
    '| scenario | msg/s (median) | spread | p50 ms | p99 ms | p99.9 ms | peak RSS MB | vs ceiling | vs naive |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const m = r.median;
      const sp = r.spread.rate;
      return `| ${r.name} | ${fmt(m.rate)} | ${fmt(sp[0])}–${fmt(sp[1])} | ${fmt(m.p50)} | ${fmt(m.p99)} | ${fmt(m.p999)} | ${fmt(m.rss, 1)} | ${fmt(m.rate / ceiling.median.rate, 2)} | ${fmt(m.rate / naive.median.rate, 2)} |`;
    }),
  ].join('\n');
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const header = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, Kafka ${broker.bootstrap} (KRaft, local), private Mosquitto.`,
    `Command: \`npm run bench -- --runs ${RUNS} --messages ${MESSAGES} --devices ${DEVICES} --sync ${args.sync}\`. Each row is the median of ${RUNS} runs; spread = min–max of the rate.`,
    `Full-speed rows publish ${MESSAGES.toLocaleString('en-US')} QoS 1 messages (${DEVICES} devices) from a separate process with 1,000 in flight; the rate counts until the last record is readable in Kafka. Fixed-rate rows publish for ${args['rate-seconds']} s. Latency = consumer arrival − publish time.`,
  ].join('\n');
  const section = `<!-- bench:mqtt:start -->\n${header}\n\n${table}\n<!-- bench:mqtt:end -->`;
  process.stdout.write(`\n${header}\n\n${table}\n`);
  const file = join(root, 'BENCHMARKS.md');
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\n## MQTT → Kafka\n\n<!-- bench:mqtt:start -->\n<!-- bench:mqtt:end -->\n';
  doc = doc.replace(/<!-- bench:mqtt:start -->[\s\S]*<!-- bench:mqtt:end -->/, section);
  writeFileSync(file, doc);
  writeFileSync(join(root, '.cache', 'bench-mqtt.json'), JSON.stringify(rows, null, 2));
} finally {
  await mosquitto.stop();
  await broker.stop();
}
