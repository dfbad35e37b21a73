// CPU per record of each Kafka client and CloudEvents mode, through the gateway's own transports and record
// builder, against a real broker; kcat producing the same records from a file is the ceiling. Side by side in one
// run, each client/mode in its own process (so one's heap and threads do not bill the other), median of --runs.
//
//   npm run build && node bench/kafka-clients.mjs [--records 200000] [--runs 3] [--brokers host:port] [--json]
// Without --brokers it starts a private KRaft broker on a free port.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '3' },
    brokers: { type: 'string' },
    json: { type: 'boolean', default: false },
    child: { type: 'string' },
  },
});
const RECORDS = Number(args.records);

/** One event as the forwarder stores it (a typical reading, ~330 bytes of JSON). */
function source(i) {
  const id = `0190a1b2-c3d4-7e5f-8a9b-${String(i).padStart(12, '0')}`;
  const deviceId = `dev-${i % 50}`;
  const receivedAt = new Date(1_764_000_000_000 + i).toISOString();
  const payload = JSON.stringify({
    schemaVersion: 2, id, type: 'reading', gatewayId: 'bench-gw', deviceId, seq: Math.floor(i / 50), sourceTime: receivedAt, receivedAt,
    metric: 'temperature', value: 20 + (i % 100) / 10, unit: 'Cel', quality: 'good',
  });
  return { id, deviceId, type: 'reading', family: 'readings', eventTime: receivedAt, payload };
}

async function child(spec) {
  const [client, mode, brokers] = spec.split('|');
  const { createKafkaTransport } = await import(join(root, 'dist', 'forwarder', 'create-transport.js'));
  const { RecordBuilder, fittingCount } = await import(join(root, 'dist', 'forwarder', 'batching.js'));
  const { KafkaConfig } = await import(join(root, 'dist', 'config', 'schema.js'));
  const { createLogger } = await import(join(root, 'dist', 'util', 'logger.js'));
  const config = KafkaConfig.parse({ brokers: [brokers], client, cloudEvents: mode });
  const transport = await createKafkaTransport(config, createLogger('silent'));
  const builder = new RecordBuilder({ gatewayId: 'bench-gw', cloudEvents: mode });
  const topic = `bench-clients-${client}-${mode}-${process.pid}`;
  const events = Array.from({ length: RECORDS }, (_, i) => source(i));
  await transport.connect();
  // Warm-up batch (metadata, topic creation, JIT), not counted.
  await transport.send([{ topic, messages: events.slice(0, 1000).map((e) => builder.build(e)) }]);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let at = 0; at < events.length; ) {
    const n = fittingCount(events.slice(at, at + 5000), 5000, config.batch.maxBytes);
    const batch = events.slice(at, at + n);
    await transport.send([{ topic, messages: batch.map((e) => builder.build(e)) }]);
    at += n;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await transport.close();
  process.stdout.write(JSON.stringify({ usPerRecord: (cpu.user + cpu.system) / RECORDS, rate: RECORDS / seconds, rssMb: process.memoryUsage().rss / 2 ** 20 }));
}

function kcat(brokers, mode, dir) {
  // The same records as kcat input lines (key, headers and value from the gateway's builder are what is sent).
  const file = join(dir, `records-${mode}.txt`);
  const lines = [];
  for (let i = 0; i < RECORDS; i++) {
    const e = source(i);
    lines.push(`${e.deviceId}\t${e.payload}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  const topic = `bench-clients-kcat-${process.pid}-${mode}`;
  const headers = mode === 'binary'
    ? ['ce_specversion=1.0', 'ce_id=x', 'ce_source=/edge-telemetry-gateway/bench-gw', 'ce_type=io.edge-telemetry-gateway.reading.v1', 'ce_time=2026-01-01T00:00:00.000Z', 'ce_subject=dev', 'content-type=application/json']
    : ['content-type=application/cloudevents+json'];
  const argv = ['-b', brokers, '-P', '-t', topic, '-K', '\t', '-X', 'enable.idempotence=true', '-X', 'acks=all', '-X', 'linger.ms=5', ...headers.flatMap((h) => ['-H', h]), '-l', file];
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', `TIMEFORMAT='%U %S'; time kcat ${argv.map((a) => `'${a}'`).join(' ')}`], { encoding: 'utf8' });
  const seconds = (performance.now() - t0) / 1000;
  const [user, sys] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { usPerRecord: ((user + sys) * 1e6) / RECORDS, rate: RECORDS / seconds, rssMb: NaN };
}

if (args.child) {
  await child(args.child);
  process.exit(0);
}

let broker;
let brokers = args.brokers;
const tmp = mkdtempSync(join(os.tmpdir(), 'etg-bench-clients-'));
if (!brokers) {
  const { findFreePort, startBroker } = await import(join(root, 'scripts', 'kafka-broker.mjs'));
  broker = await startBroker({ port: await findFreePort(), dataDir: join(tmp, 'kafka'), heapMb: 768 });
  brokers = broker.bootstrap;
}
const load = os.loadavg();
const rows = [];
try {
  for (const mode of ['binary', 'structured']) {
    const variants = [['librdkafka', mode], ['kafkajs', mode], ['kcat', mode]];
    const results = new Map(variants.map(([c]) => [c, []]));
    for (let run = 0; run < Number(args.runs); run++) {
      // Interleaved: each run measures every variant once, so load changes hit all of them alike.
      for (const [client] of variants) {
        if (client === 'kcat') {
          results.get(client).push(kcat(brokers, mode, tmp));
          continue;
        }
        const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--records', String(RECORDS), '--child', `${client}|${mode}|${brokers}`], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${client} ${mode}: ${r.stderr}`);
        results.get(client).push(JSON.parse(r.stdout));
      }
    }
    for (const [client, runs] of results) {
      const median = (k) => runs.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
      rows.push({ client, mode, usPerRecord: median('usPerRecord'), rate: median('rate'), rssMb: median('rssMb'), spreadUs: [Math.min(...runs.map((r) => r.usPerRecord)), Math.max(...runs.map((r) => r.usPerRecord))] });
    }
  }
} finally {
  await broker?.stop();
  rmSync(tmp, { recursive: true, force: true });
}
if (args.json) process.stdout.write(`${JSON.stringify({ records: RECORDS, load, rows })}\n`);
else {
  const f = (v, d = 1) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');
  process.stdout.write(`${RECORDS.toLocaleString('en-US')} records per run, median of ${args.runs}; load ${load.map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min)\n\n`);
  process.stdout.write('| client | CloudEvents mode | CPU µs / record | spread | records/s | RSS MB |\n|---|---|---:|---:|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.client} | ${r.mode} | ${f(r.usPerRecord)} | ${f(r.spreadUs[0])}–${f(r.spreadUs[1])} | ${f(r.rate, 0)} | ${f(r.rssMb, 0)} |\n`);
}
