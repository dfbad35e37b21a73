// The largest full-speed QoS 1 burst a Mosquitto with Debian's default limits survives without dropping, for the
// gateway and, side by side in the same run, for a subscriber that only acknowledges (the ceiling of any consumer).
// (issue #20; re-measure after changes to the ingest or Kafka path.)
//
//   node bench/broker-burst.mjs [--runs 3] [--messages 100000] [--no-verify]
//
// Each run: a fresh private Mosquitto (profile `stock`: max_queued_messages 1000, persistence on, sys_interval 1 so
// its drop counter is read within a second), one subscriber (MQTT 5, Receive Maximum 1000), a publisher at full
// speed (1,000 unacknowledged), the broker's own drop counter at the end. A broker holds Q = 1,000 in flight +
// 1,000 queued for an online subscriber; a burst published at p msg/s to a subscriber taking c msg/s overflows
// after Q·p/(p−c) messages: that is the survivable burst, computed from what the subscriber kept (c = (kept − Q)/T).
// Then the gateway gets bursts of 0.8×, 1.25× and 2× the median estimate (expected: 0 dropped at first, then some).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { findFreePort, startBroker } from '../scripts/kafka-broker.mjs';
import { startMosquitto } from '../scripts/mosquitto.mjs';
import { GatewayProcess, Publisher, createTopic, pendingInBuffer, sleep, uniqueName, waitFor, writeGatewayConfig } from './faults/lib.mjs';

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, messages: { type: 'string', default: '100000' }, 'no-verify': { type: 'boolean', default: false } },
});
const RUNS = Number(args.runs);
const MESSAGES = Number(args.messages);
const Q = 2000;
const load = () => os.loadavg()[0].toFixed(1);
const log = (line) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)} load ${load()}] ${line}\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A subscriber in its own process that does nothing but acknowledge (mqtt.js sends each PUBACK at once). */
function noopSubscriber(url, topic) {
  const code = `
    import mqtt from 'mqtt';
    const c = mqtt.connect(${JSON.stringify(url)}, { clientId: 'noop-${Date.now()}', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600, receiveMaximum: 1000 } });
    c.on('connect', () => c.subscribe(${JSON.stringify(`${topic}/#`)}, { qos: 1 }, () => console.log('subscribed')));
    process.on('SIGTERM', () => c.end(true, () => process.exit(0)));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: import.meta.dirname, stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise((resolve) => child.stdout.on('data', (d) => d.toString().includes('subscribed') && resolve()));
  return { ready, stop: () => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM'))) };
}

async function burstOnce(kafka, kind, messages) {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'etg-bench-burst-'));
  const broker = await startMosquitto({ dataDir, persistence: true, profile: 'stock', extraConfig: ['sys_interval 1'] });
  const sys = await mqtt.connectAsync(broker.url, { clientId: uniqueName('sys'), reconnectPeriod: 0 });
  let dropped = 0;
  let droppedAt = Date.now();
  sys.on('message', (_t, p) => {
    dropped = Number(p.toString());
    droppedAt = Date.now();
  });
  await sys.subscribeAsync('$SYS/broker/publish/messages/dropped');
  const gatewayId = uniqueName(`burst-${kind}`);
  const cfg = writeGatewayConfig({ gatewayId, brokers: [kafka], mqttUrl: broker.url });
  let subscriber;
  try {
    if (kind === 'gateway') {
      await createTopic(kafka, cfg.readingsTopic);
      subscriber = new GatewayProcess(cfg.file);
      await subscriber.ready();
    } else {
      subscriber = noopSubscriber(broker.url, cfg.baseTopic);
      await subscriber.ready;
    }
    const publisher = await Publisher.connect(broker.url, `${gatewayId}-pub`);
    const t0 = Date.now();
    await publisher.publish(cfg.baseTopic, messages, { devices: 10, window: 1000 });
    const seconds = (Date.now() - t0) / 1000;
    await publisher.close();
    // Settled: the gateway's buffer empty (it took what the broker kept), and no new drop report for 3 s.
    await waitFor('settled', () => (kind !== 'gateway' || pendingInBuffer(cfg.bufferPath) === 0) && Date.now() - droppedAt > 3000, { timeoutMs: 300_000, intervalMs: 200 });
    const p = messages / seconds;
    const kept = messages - dropped;
    // Only a burst that overflowed tells the consumer's rate (without drops it kept up, or the burst was short).
    const c = dropped === 0 ? undefined : Math.max(0, (kept - Q) / seconds);
    const survivable = c === undefined ? undefined : Math.round((Q * p) / Math.max(1, p - c));
    return { kind, messages, publishRate: Math.round(p), ...(c === undefined ? {} : { consumerRate: Math.round(c) }), dropped, survivable, load: Number(load()) };
  } finally {
    await subscriber?.stop();
    await sys.endAsync(true).catch(() => undefined);
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(cfg.dir, { recursive: true, force: true });
  }
}

const kafkaDir = mkdtempSync(join(os.tmpdir(), 'etg-bench-burst-kafka-'));
const kafkaBroker = await startBroker({ port: await findFreePort(), dataDir: kafkaDir });
const startLoad = os.loadavg().map((l) => l.toFixed(1)).join(' ');
const rows = [];
try {
  for (let run = 1; run <= RUNS; run++) {
    for (const kind of ['noop', 'gateway']) {
      const r = await burstOnce(kafkaBroker.bootstrap, kind, MESSAGES);
      log(JSON.stringify(r));
      rows.push(r);
      await sleep(1000);
    }
  }
  const estimates = rows.filter((r) => r.kind === 'gateway' && r.survivable !== undefined).map((r) => r.survivable);
  const estimate = estimates.length > 0 ? median(estimates) : undefined;
  if (estimate !== undefined && !args['no-verify']) {
    for (const factor of [0.8, 1.25, 2]) {
      for (let run = 1; run <= RUNS; run++) {
        const r = await burstOnce(kafkaBroker.bootstrap, 'gateway', Math.round(estimate * factor));
        log(JSON.stringify({ ...r, factor }));
        rows.push({ ...r, factor });
      }
    }
  }
  const summary = (kind, pick) => rows.filter(pick).map((r) => r[kind]);
  const big = (r) => r.messages === MESSAGES;
  for (const kind of ['noop', 'gateway']) {
    const mine = (r) => big(r) && r.kind === kind;
    console.log(
      `${kind.padEnd(8)} ${MESSAGES} messages: publish ${median(summary('publishRate', mine))} msg/s, consumer ${median(summary('consumerRate', mine).map((x) => x ?? NaN)) ?? '—'} msg/s (known only when it overflowed), dropped ${median(summary('dropped', mine))} (runs: ${summary('dropped', mine).join(', ')}), survivable burst ${median(summary('survivable', mine).map((x) => x ?? Infinity))}`,
    );
  }
  for (const factor of [0.8, 1.25, 2]) {
    const mine = (r) => r.factor === factor;
    if (rows.some(mine)) console.log(`gateway  ${summary('messages', mine)[0]} messages (${factor}× estimate ${estimate}): dropped ${summary('dropped', mine).join(', ')}`);
  }
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; load average at start ${startLoad}, at end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; node ${process.version}`);
} finally {
  await kafkaBroker.stop();
  rmSync(kafkaDir, { recursive: true, force: true });
}
