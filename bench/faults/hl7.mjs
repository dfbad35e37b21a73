// Fault scenario of the HL7 input (registered in bench/faults/run.mjs as `hl7`): 20 simulated monitors send PCD-01
// (observations only, no alarms: every message must show up as its 7 readings) back to back to the gateway's MLLP
// listener, each message after the previous ACK; the gateway is SIGKILLed at
// a random moment and started again on the same port; the monitors reconnect and resend whatever had no ACK yet
// (same MSH-10), as real ones do. Besides, every monitor "loses" one ACK in ten and resends after 1 s, so resends
// of committed messages happen in every trial, not only when the kill falls between a commit and its ACK. Checks, reading the topic back: every ACKed message is in Kafka (all of its
// observations), and no message has a second event (a resend of a message committed just before the kill is
// acknowledged from the receipt ledger, not stored again). Duplicates of the same event id (the forwarder
// re-sending a batch Kafka had taken) are counted apart: at-least-once forwarding allows them.
import { rmSync } from 'node:fs';
import { findFreePort } from '../../scripts/kafka-broker.mjs';
import { euiOf, startHl7Simulator } from '../../dist/simulators/hl7.js';
import { GatewayProcess, createTopic, httpPort, pendingInBuffer, readTopicEvents, uniqueName, waitFor, waitForQuiet, writeGatewayConfig } from './lib.mjs';

export const HL7_TRIALS = 3;
const MONITORS = 20;
const PER_MONITOR = 150;
/** Observations in each simulated PCD-01 message (devices/ihe-pcd01.yaml simulation). */
const OBSERVATIONS = 7;

async function startGateway(file) {
  const gateway = new GatewayProcess(file);
  await gateway.waitForLog('gateway started');
  await gateway.waitForLog('hl7 listening');
  return gateway;
}

/** One trial; returns the fields of its row in the fault suite's table. */
export async function hl7CrashTrial(ctx, trial, cleanups) {
  const gatewayId = uniqueName(`hl7-crash${trial}`);
  const port = await findFreePort();
  const cfg = writeGatewayConfig({ gatewayId, brokers: [ctx.kafka.bootstrap], kafka: ctx.kafkaClientConfig(), inputs: [{ type: 'hl7', name: 'monitors', listen: { port } }] });
  cleanups.push(() => rmSync(cfg.dir, { recursive: true, force: true }));
  await createTopic(ctx.kafka.bootstrap, cfg.readingsTopic);
  let gateway = await startGateway(cfg.file);
  const t0 = Date.now();
  const sims = await Promise.all(
    Array.from({ length: MONITORS }, (_, i) =>
      startHl7Simulator({ port, deviceId: `monitor-${i}`, intervalMs: 0, count: PER_MONITOR, ackTimeoutMs: 1000, alarms: false, faults: ['lose-ack'], seed: trial * 100 + i, driver: 'ihe-pcd01', configDir: new URL('../../', import.meta.url).pathname }),
    ),
  );
  const finished = new Set();
  sims.forEach((s, i) => s.done.then(() => finished.add(i)));
  const acked = () => sims.reduce((n, s) => n + s.acked.size, 0);
  const total = MONITORS * PER_MONITOR;
  const killAt = Math.floor(total * (0.2 + Math.random() * 0.6));
  await waitFor(`monitors past ${killAt} ACKs`, () => acked() >= killAt, { timeoutMs: 300_000, intervalMs: 2 });
  const pendingAtKill = pendingInBuffer(cfg.bufferPath) ?? 0;
  await gateway.kill();
  const ackedAtKill = acked();
  gateway = await startGateway(cfg.file);
  await waitFor('every monitor done', () => finished.size === MONITORS, { timeoutMs: 600_000, intervalMs: 200 });
  await Promise.all(sims.map((s) => s.stop()));
  await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, acked() * OBSERVATIONS);
  const result = await checkHl7Delivery(ctx.kafka.bootstrap, cfg.readingsTopic, sims);
  // Resends the restarted gateway recognised (committed before the kill, never ACKed): the case the ledger is for.
  const recognised = await metric(gateway, 'etg_hl7_messages_total', 'outcome="resend"');
  const stop = await gateway.stop();
  const resends = sims.reduce((n, s) => n + s.resends, 0);
  const rejected = sims.reduce((n, s) => n + s.rejected.size, 0);
  return {
    trial,
    acked: acked(),
    killedAt: ackedAtKill,
    pendingAtKill,
    resends,
    recognisedResends: recognised,
    rejected,
    ...result,
    seconds: Math.round((Date.now() - t0) / 1000),
    ok: result.lost === 0 && result.secondEvents === 0 && result.auditClean && rejected === 0 && acked() === total && (recognised ?? 0) > 0 && stop.code === 0,
  };
}

/** One sample of the gateway's /metrics (its HTTP port is logged at start): `name` with a `label` among its labels. */
async function metric(gateway, name, label) {
  const port = httpPort(gateway);
  if (port === undefined) return undefined;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/**
 * Reads the readings topic: lost = ACKed messages with fewer than OBSERVATIONS distinct events; secondEvents =
 * observations of a message stored more than once (distinct ids for the same MSH-10 and metric); duplicateSameId
 * = records repeating an event id.
 */
async function checkHl7Delivery(bootstrap, topic, sims) {
  const byMessage = new Map(); // "deviceId MSH-10" -> Map(metric -> Set(ids))
  const { records, sameId, audit } = await readTopicEvents(bootstrap, topic, (e) => {
    if (e.type !== 'reading') return;
    const controlId = /^MSH-10 (\S+)/.exec(e.source ?? '')?.[1] ?? '';
    const key = `${e.deviceId} ${controlId}`;
    let metrics = byMessage.get(key);
    if (!metrics) byMessage.set(key, (metrics = new Map()));
    let set = metrics.get(e.metric);
    if (!set) metrics.set(e.metric, (set = new Set()));
    set.add(e.id);
  });
  let lost = 0;
  const lostSample = [];
  for (const sim of sims) {
    for (const controlId of sim.acked.keys()) {
      const deviceId = euiOf(controlId.replace(/-\d+$/, ''));
      const metrics = byMessage.get(`${deviceId} ${controlId}`);
      if (metrics && metrics.size === OBSERVATIONS) continue;
      lost += 1;
      if (lostSample.length < 5) lostSample.push(controlId);
    }
  }
  let secondEvents = 0;
  for (const metrics of byMessage.values()) for (const set of metrics.values()) secondEvents += set.size - 1;
  return {
    records,
    lost,
    lostSample: lostSample.join(' '),
    secondEvents,
    duplicateSameId: sameId,
    auditMissing: audit.totals.missing,
    outOfOrder: audit.totals.outOfOrder,
    auditClean: audit.clean,
  };
}

/** Fault-suite registration (bench/faults/scenarios.mjs). */
export const scenarios = [
  {
    name: 'hl7-crash',
    aliases: ['hl7'],
    ci: true,
    description: `SIGKILL the gateway while 20 HL7 monitors send (× ${HL7_TRIALS}): every ACKed message in Kafka, resends make no second event`,
    async run(ctx) {
      await ctx.ensureBrokers();
      for (let t = 1; t <= HL7_TRIALS; t++) ctx.row('hl7 crash (SIGKILL gateway, 20 monitors)', await hl7CrashTrial(ctx, t, { push: (fn) => ctx.cleanup(fn) }));
    },
  },
];
