// Fault scenario `burst` (issue #20): a publisher at the broker's full speed for --messages QoS 1 messages, faster
// than the gateway commits, against two private Mosquitto 2.0 brokers with the gateway as its only subscriber:
//   (a) Debian's default settings (max_queued_messages 1000, sys_interval 10): the broker acknowledges every message
//       and drops what its queue for the gateway cannot hold. Passes when the loss happened and every drop is
//       visible: the gateway's etg_mqtt_broker_dropped_messages_total reaches the broker's own counter (read by an
//       independent client) and at least the loss counted in Kafka, /readyz says degraded, a degraded gateway-health
//       event is in Kafka, each within 10 s of the broker publishing its counter.
//   (b) the shipped settings (config/mosquitto/edge-telemetry-gateway.conf): passes when nothing is lost, the
//       counter stays 0 and the gateway never reports degraded.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startMosquitto } from '../../scripts/mosquitto.mjs';
import { readTopicWindow } from '../../dist/audit/topic-reader.js';
import { GatewayProcess, Publisher, checkDelivery, createTopic, httpPort, uniqueName, waitFor, waitForQuiet, writeGatewayConfig } from './lib.mjs';

const DROPPED_TOPIC = '$SYS/broker/publish/messages/dropped';
/** Publisher window: enough unacknowledged messages to keep Mosquitto at its full speed. */
const WINDOW = 1000;
/** After the broker published its counter, the gateway must show it within this (two of its default sys_intervals). */
const VISIBLE_WITHIN_MS = 10_000;

/** The gateway's own view, sampled every 250 ms: its drop metric and whether /readyz says degraded. */
class GatewaySampler {
  constructor(port) {
    this.port = port;
    this.samples = [];
    this.timer = setInterval(() => void this.sample(), 250);
  }

  async sample() {
    try {
      const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
      const lines = text.split('\n');
      const line = lines.find((l) => l.startsWith('etg_mqtt_broker_dropped_messages_total{'));
      const ingested = lines.filter((l) => l.startsWith('etg_events_ingested_total{')).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
      const readyz = await (await fetch(`http://127.0.0.1:${this.port}/readyz`)).json();
      this.samples.push({ at: Date.now(), dropped: line ? Number(line.split(' ').pop()) : 0, ingested, degraded: readyz.status === 'degraded', ready: readyz.ready });
    } catch {
      // the listener is not up yet, or the gateway is stopping
    }
  }

  get last() {
    return this.samples.at(-1);
  }

  firstAt(predicate) {
    return this.samples.find(predicate)?.at;
  }

  stop() {
    clearInterval(this.timer);
  }
}

/** Every value the broker publishes on its drop counter, with when (an independent MQTT client). */
async function watchBrokerCounter(url) {
  const client = await mqtt.connectAsync(url, { clientId: uniqueName('burst-sys'), clean: true, reconnectPeriod: 0 });
  const reports = [];
  client.on('message', (topic, payload) => reports.push({ at: Date.now(), value: Number(payload.toString()) }));
  await client.subscribeAsync(DROPPED_TOPIC, { qos: 0 });
  return { reports, last: () => reports.at(-1)?.value ?? 0, close: () => client.endAsync(true) };
}

/** One burst against a private Mosquitto with `profile` ('stock' or 'shipped'); returns the scenario's row. */
export async function burstAgainst(ctx, profile, { messages, devices, log }) {
  const dataDir = mkdtempSync(join(tmpdir(), `etg-faults-burst-${profile}-`));
  // Debian's mosquitto.conf turns persistence on; nothing else is changed for `stock`.
  const broker = await startMosquitto({ dataDir, persistence: true, profile });
  const gatewayId = uniqueName(`burst-${profile}`);
  const cfg = writeGatewayConfig({ gatewayId, brokers: [ctx.kafka.bootstrap], mqttUrl: broker.url, kafka: ctx.kafkaClientConfig() });
  const counter = await watchBrokerCounter(broker.url);
  let gateway;
  let publisher;
  let sampler;
  try {
    await createTopic(ctx.kafka.bootstrap, cfg.readingsTopic);
    gateway = new GatewayProcess(cfg.file);
    await gateway.ready();
    const port = await waitFor('the gateway\'s HTTP port', () => httpPort(gateway));
    sampler = new GatewaySampler(port);
    publisher = await Publisher.connect(broker.url, `${gatewayId}-pub`);
    const t0 = Date.now();
    await publisher.publish(cfg.baseTopic, messages, { devices, window: WINDOW });
    const publishS = (Date.now() - t0) / 1000;
    await sampler.sample();
    const ingestedDuringBurst = sampler.last?.ingested ?? 0;
    log(`burst ${profile}: ${publisher.acked.size} acknowledged in ${publishS.toFixed(1)} s (${Math.round(publisher.acked.size / publishS)} msg/s)`);
    const quiet = await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size, { settleMs: 15_000 });
    const drainedS = (Date.now() - t0) / 1000;
    const result = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked, devices);
    // The broker's last counter report comes within one sys_interval of its last drop; the gateway must match it.
    let visible = false;
    if (profile === 'stock') {
      visible = await waitFor(
        'the gateway showing the broker\'s final drop count',
        () => counter.last() > 0 && counter.reports.at(-1).at < Date.now() - 11_000 && sampler.last?.dropped === counter.last(),
        { timeoutMs: 60_000, intervalMs: 250 },
      ).catch(() => false);
    }
    const brokerFirst = counter.reports.find((r) => r.value > 0);
    const gatewayFirst = sampler.firstAt((s) => s.dropped > 0);
    const degradedFirst = sampler.firstAt((s) => s.degraded);
    const brokerFinal = counter.reports.find((r) => r.value === counter.last());
    const gatewayFinal = sampler.firstAt((s) => s.dropped === counter.last() && counter.last() > 0);
    const healthEvents = [];
    await readTopicWindow({
      brokers: [ctx.kafka.bootstrap],
      topic: `${gatewayId}.gateway-health`,
      timeoutMs: 60_000,
      onRecord: (record) => healthEvents.push(JSON.parse(record.value)),
    }).catch(() => undefined);
    const degradedEvent = healthEvents.find((e) => e.status === 'degraded');
    const lag = (a, b) => (a === undefined || b === undefined ? undefined : b - a);
    const fields = {
      acked: publisher.acked.size,
      publishRate: Math.round(publisher.acked.size / publishS),
      // Messages the gateway committed while the publisher ran (one reading each here), per second.
      gatewayRate: Math.round(ingestedDuringBurst / publishS),
      // Like drop-oldest's rows: `dropped` is what the broker dropped (declared by the gateway's metric and health),
      // `lost` what went missing without the gateway showing it.
      dropped: result.lost,
      lost: Math.max(0, result.lost - (sampler.last?.dropped ?? 0)),
      brokerDropped: counter.last(),
      gatewayDropped: sampler.last?.dropped ?? 0,
      degradedSeen: degradedFirst !== undefined,
      degradedEvent: degradedEvent !== undefined,
      // The worst event-loop delay (p99 over 10 s windows) the gateway reported in its health events.
      loopDelayP99Ms: Math.round(Math.max(0, ...healthEvents.map((e) => e.figures?.eventLoopDelayP99Ms ?? 0))),
      firstVisibleMs: lag(brokerFirst?.at, gatewayFirst),
      degradedMs: lag(brokerFirst?.at, degradedFirst),
      finalVisibleMs: lag(brokerFinal?.at, gatewayFinal),
      records: result.records,
      duplicateSameId: result.duplicateSameId,
      duplicateRedelivered: result.duplicateRedelivered,
      // MQTT connections beyond the first: each makes the broker redeliver what was not acknowledged.
      extraConnects: Math.max(0, gateway.logs.filter((l) => l.msg === 'mqtt connected').length - 1),
      warnings: [...new Set(gateway.logs.filter((l) => l.level >= 40).map((l) => `${l.code ?? ''} ${l.err ?? l.msg}`.trim()))].join('; '),
      auditMissing: result.auditMissing,
      outOfOrder: result.outOfOrder,
      settled: quiet.settled,
      seconds: Math.round(drainedS),
    };
    const stop = await gateway.stop();
    const within = (ms) => ms !== undefined && ms <= VISIBLE_WITHIN_MS;
    if (profile === 'stock') {
      return {
        ...fields,
        // Reproduced (the broker lost acknowledged messages) and every drop visible: the gateway's figure is the
        // broker's, which counts at least what Kafka is missing (more only if it also dropped QoS 0 statistics).
        ok:
          result.lost > 0 &&
          fields.lost === 0 &&
          visible &&
          fields.gatewayDropped === fields.brokerDropped &&
          fields.brokerDropped >= result.lost &&
          fields.degradedSeen &&
          fields.degradedEvent &&
          within(fields.firstVisibleMs) &&
          within(fields.degradedMs) &&
          within(fields.finalVisibleMs) &&
          result.outOfOrder === 0 &&
          stop.code === 0,
      };
    }
    return {
      ...fields,
      ok: result.lost === 0 && result.auditClean && counter.last() === 0 && fields.gatewayDropped === 0 && !fields.degradedSeen && stop.code === 0,
    };
  } finally {
    sampler?.stop();
    await gateway?.kill();
    await publisher?.close().catch(() => undefined);
    await counter.close().catch(() => undefined);
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(cfg.dir, { recursive: true, force: true });
  }
}

/** The scenario's rows: the broker a new user has, then the one install.sh --with-mosquitto sets up. */
export const BURST_BROKERS = [
  ['stock', 'burst, Mosquitto with Debian defaults'],
  ['shipped', 'burst, shipped Mosquitto settings'],
];

/** Fault-suite registration (bench/faults/scenarios.mjs): one scenario per broker profile, `--only burst` runs both. */
export const scenarios = BURST_BROKERS.map(([profile, title]) => ({
  name: `burst-${profile}`,
  aliases: ['burst'],
  ci: true,
  description: `${title}: a publisher at full speed; every drop shown by the gateway (stock) or none (shipped)`,
  async run(ctx) {
    await ctx.ensureBrokers();
    ctx.row(title, await burstAgainst(ctx, profile, { messages: ctx.args.messages, devices: 10, log: ctx.log }));
  },
}));
