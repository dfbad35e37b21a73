#!/usr/bin/env node
// Fault-injection suite (npm run test:faults): real Kafka, real Mosquitto, the gateway as a process.
// Every scenario publishes MQTT QoS 1 messages, injects a fault, and checks that every message the publisher
// saw acknowledged is in Kafka, per-device seq order holds (the audit), and duplicates are only re-sends of
// the same event id or MQTT redeliveries. Prints a table; exits 1 on any loss or broken order.
//
//   node bench/faults/run.mjs [--trials 20] [--messages 100000] [--outage 60] [--only crash,sigterm,mosquitto,kafka,drop-oldest,block,burst,hl7]
//                             [--json FILE]
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findFreePort, startBroker } from '../../scripts/kafka-broker.mjs';
import { startMosquitto } from '../../scripts/mosquitto.mjs';
import { BURST_BROKERS, burstAgainst } from './burst.mjs';
import {
  GatewayProcess,
  Publisher,
  checkDelivery,
  createTopic,
  pendingInBuffer,
  sleep,
  uniqueName,
  waitFor,
  waitForQuiet,
  writeGatewayConfig,
} from './lib.mjs';
import { HL7_TRIALS, hl7CrashTrial } from './hl7.mjs';

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '20' },
    messages: { type: 'string', default: '100000' },
    outage: { type: 'string', default: '60' },
    only: { type: 'string' },
    json: { type: 'string' },
  },
});
const TRIALS = Number(args.trials);
const MESSAGES = Number(args.messages);
const OUTAGE_S = Number(args.outage);
const ONLY = args.only ? new Set(args.only.split(',')) : undefined;
const DEVICES = 10;
/** The capped gateways of the drop-oldest and block scenarios. */
const CAP_EVENTS = 5000;
const CAPPED_MESSAGES = 20_000;
const want = (name) => !ONLY || ONLY.has(name);

const rows = [];
const cleanups = [];
const log = (text) => process.stderr.write(`[faults ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

function row(scenario, fields) {
  const r = { scenario, ...fields };
  rows.push(r);
  log(`${scenario}: ${JSON.stringify(fields)}`);
  return r;
}

/** A fresh gateway (own topics, buffer, MQTT session) against the shared brokers. */
async function freshGateway(ctx, name, extra = {}) {
  const gatewayId = uniqueName(name);
  const cfg = writeGatewayConfig({ gatewayId, brokers: [ctx.kafka.bootstrap], mqttUrl: ctx.mqtt.url, ...extra });
  cleanups.push(() => rmSync(cfg.dir, { recursive: true, force: true }));
  await createTopic(ctx.kafka.bootstrap, cfg.readingsTopic);
  const gateway = new GatewayProcess(cfg.file);
  await gateway.ready();
  const publisher = await Publisher.connect(ctx.mqtt.url, `${gatewayId}-pub`);
  return { cfg, gateway, publisher };
}

// ---------------------------------------------------------------------------------------------------------------

async function crashTrial(ctx, trial) {
  const { cfg, gateway: first, publisher } = await freshGateway(ctx, `crash${trial}`);
  let gateway = first;
  const t0 = Date.now();
  const publishing = publisher.publish(cfg.baseTopic, MESSAGES, { devices: DEVICES });
  // A random moment while the messages flow: after 5 %..95 % of them were acknowledged.
  const killAt = Math.floor(MESSAGES * (0.05 + Math.random() * 0.9));
  await waitFor(`publisher past ${killAt}`, () => publisher.acked.size >= killAt, { timeoutMs: 300_000, intervalMs: 2 });
  const pendingBefore = pendingInBuffer(cfg.bufferPath);
  await gateway.kill();
  gateway = new GatewayProcess(cfg.file);
  await gateway.ready();
  await publishing;
  await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
  const elapsedS = (Date.now() - t0) / 1000;
  const result = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked);
  const stop = await gateway.stop();
  await publisher.close();
  // MQTT connections beyond the first of each process: every reconnect makes the broker redeliver what was unacknowledged.
  const extraConnects = [first, gateway].reduce((sum, g) => sum + Math.max(0, g.logs.filter((l) => l.msg === 'mqtt connected').length - 1), 0);
  return row('crash (SIGKILL gateway)', {
    trial,
    acked: publisher.acked.size,
    killedAt: killAt,
    pendingAtKill: pendingBefore ?? 0,
    extraConnects,
    ...result,
    seconds: Math.round(elapsedS),
    ok: result.lost === 0 && result.auditClean && result.auditMissing === 0 && stop.code === 0,
  });
}

/**
 * A gateway with a small buffer cap (buffer.maxEvents) and a whenFull policy, publishing through the outage:
 * drop-oldest must account for every dropped reading with gap events; block must drop nothing and keep the
 * backlog at the cap (MQTT is not acknowledged, so Mosquitto holds the rest in the gateway's session).
 */
async function cappedGateway(ctx, whenFull) {
  const g = await freshGateway(ctx, whenFull, { buffer: { maxEvents: CAP_EVENTS, whenFull, maxEventsPerCommit: 500 } });
  const ratePerSec = Math.max(100, Math.round(CAPPED_MESSAGES / (OUTAGE_S + 30)));
  g.publishing = g.publisher.publish(g.cfg.baseTopic, CAPPED_MESSAGES, { devices: DEVICES, ratePerSec });
  g.maxPending = 0;
  g.sampler = setInterval(() => {
    const pending = pendingInBuffer(g.cfg.bufferPath) ?? 0;
    if (pending > g.maxPending) g.maxPending = pending;
  }, 250);
  g.whenFull = whenFull;
  return g;
}

async function finishCapped(ctx, g) {
  await g.publishing;
  await waitForQuiet(ctx.kafka.bootstrap, g.cfg.readingsTopic, g.cfg.bufferPath, 1);
  clearInterval(g.sampler);
  const result = await checkDelivery(ctx.kafka.bootstrap, g.cfg.readingsTopic, g.publisher.acked);
  const stop = await g.gateway.stop();
  await g.publisher.close();
  const common = { acked: g.publisher.acked.size, cap: CAP_EVENTS, maxPending: g.maxPending, ...result };
  if (g.whenFull === 'drop-oldest') {
    // Every acknowledged reading is in Kafka or declared by a gap event, and the audit finds no undeclared hole.
    return row(`cap ${CAP_EVENTS}, drop-oldest, kafka down`, {
      ...common,
      // Here "lost" is what no gap event declared; the declared drops are in "dropped".
      dropped: result.lost,
      lost: result.undeclaredLost,
      ok: result.gapCount > 0 && result.gapsMatchLoss && result.auditMissing === 0 && result.outOfOrder === 0 && stop.code === 0,
    });
  }
  // block: nothing dropped, and the backlog stayed at the cap (plus at most one commit group).
  return row(`cap ${CAP_EVENTS}, block, kafka down`, {
    ...common,
    ok: result.lost === 0 && result.gapEvents === 0 && result.auditClean && g.maxPending <= CAP_EVENTS + 500 && stop.code === 0,
  });
}

async function kafkaOutage(ctx) {
  const { cfg, gateway, publisher } = await freshGateway(ctx, 'kafka-outage');
  const capped = [];
  if (want('drop-oldest')) capped.push(await cappedGateway(ctx, 'drop-oldest'));
  if (want('block')) capped.push(await cappedGateway(ctx, 'block'));
  // Spread the messages over the outage and some time either side, so they flow before, during and after it.
  const ratePerSec = Math.max(500, Math.round(MESSAGES / (OUTAGE_S + 30)));
  const publishing = publisher.publish(cfg.baseTopic, MESSAGES, { devices: DEVICES, ratePerSec });
  await waitFor('some messages through', () => publisher.acked.size >= Math.min(MESSAGES / 10, ratePerSec * 10), { timeoutMs: 120_000 });
  log(`kafka outage: SIGKILL the broker for ${OUTAGE_S} s (${publisher.acked.size} acknowledged so far)`);
  ctx.kafka.kill('SIGKILL');
  await ctx.kafka.waitForExit();
  await sleep(OUTAGE_S * 1000);
  const backlog = pendingInBuffer(cfg.bufferPath) ?? 0;
  log(`kafka outage: restarting the broker on port ${ctx.kafka.port}; backlog ${backlog}`);
  ctx.kafka = await startBroker({ port: ctx.kafka.port, dataDir: ctx.kafka.dataDir });
  const restartedAt = Date.now();
  await waitFor('backlog drained', () => pendingInBuffer(cfg.bufferPath) === 0 || undefined, { timeoutMs: 600_000, intervalMs: 100 });
  const drainS = (Date.now() - restartedAt) / 1000;
  await publishing;
  await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
  const result = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked);
  const stop = await gateway.stop();
  await publisher.close();
  row(`kafka SIGKILLed ${OUTAGE_S} s`, {
    acked: publisher.acked.size,
    backlogAtRestart: backlog,
    drainSeconds: Number(drainS.toFixed(1)),
    ...result,
    ok: result.lost === 0 && result.auditClean && stop.code === 0,
  });
  for (const g of capped) await finishCapped(ctx, g);
}

async function mosquittoRestart(ctx) {
  const { cfg, gateway, publisher } = await freshGateway(ctx, 'mqtt-restart');
  const ratePerSec = Math.max(1000, Math.round(MESSAGES / 30));
  const publishing = publisher.publish(cfg.baseTopic, MESSAGES, { devices: DEVICES, ratePerSec });
  await waitFor('a third through', () => publisher.acked.size >= MESSAGES / 3, { timeoutMs: 300_000 });
  log(`mosquitto restart (${publisher.acked.size} acknowledged so far, last published ${publisher.attempted - 1})`);
  await ctx.mqtt.stop('SIGTERM'); // saves its persistence file (sessions, queued messages) on the way out
  log(`mosquitto stopped (${publisher.acked.size} acknowledged, last published ${publisher.attempted - 1})`);
  ctx.mqtt = await startMosquitto({ port: ctx.mqtt.port, dataDir: ctx.mqttDir, persistence: true });
  await publishing;
  await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
  const result = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked);
  const connects = gateway.logs.filter((l) => l.msg === 'mqtt connected');
  const reconnects = connects.length - 1;
  // Whether the broker still had the gateway's session (subscriptions, queued messages) after its restart.
  const sessionResumed = connects.slice(1).every((l) => l.sessionPresent === true);
  const stop = await gateway.stop();
  await publisher.close();
  return row('mosquitto restarted', {
    acked: publisher.acked.size,
    gatewayReconnects: reconnects,
    sessionResumed,
    ...result,
    ok: result.lost === 0 && result.auditClean && stop.code === 0 && sessionResumed,
  });
}

async function sigtermUnderLoad(ctx) {
  const { cfg, gateway: first, publisher } = await freshGateway(ctx, 'sigterm');
  const publishing = publisher.publish(cfg.baseTopic, MESSAGES, { devices: DEVICES });
  await waitFor('half through', () => publisher.acked.size >= MESSAGES / 2, { timeoutMs: 300_000, intervalMs: 2 });
  const stop = await first.stop();
  const gateway = new GatewayProcess(cfg.file);
  await gateway.ready();
  await publishing;
  await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
  const result = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked);
  const last = await gateway.stop();
  await publisher.close();
  return row('SIGTERM under load', {
    acked: publisher.acked.size,
    exitCode: stop.code,
    stopMs: stop.ms,
    ...result,
    // drainTimeout is 10 s; inputs stop and the buffer commits before the drain starts.
    ok: stop.code === 0 && stop.ms <= 15_000 && result.lost === 0 && result.auditClean && last.code === 0,
  });
}

// ---------------------------------------------------------------------------------------------------------------

function printTable() {
  const columns = ['scenario', 'trial', 'acked', 'records', 'lost', 'dropped', 'duplicateSameId', 'duplicateRedelivered', 'outOfOrder', 'seqReused', 'auditMissing', 'gapEvents', 'gapCount', 'otherGapCount', 'gapsMatchLoss', 'cap', 'maxPending', 'backlogAtRestart', 'drainSeconds', 'stopMs', 'extraConnects', 'publishRate', 'gatewayRate', 'brokerDropped', 'gatewayDropped', 'degradedSeen', 'degradedEvent', 'firstVisibleMs', 'degradedMs', 'finalVisibleMs', 'seconds', 'sessionResumed', 'resends', 'recognisedResends', 'secondEvents', 'ok', 'error'];
  const used = columns.filter((c) => rows.some((r) => r[c] !== undefined));
  const cell = (r, c) => (r[c] === undefined ? '' : String(r[c]));
  const widths = used.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
  const line = (cells) => `| ${cells.map((s, i) => s.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(used));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(used.map((c) => cell(r, c))));
}

async function main() {
  const started = Date.now();
  log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB; node ${process.version}`);
  const kafkaDir = mkdtempSync(join(tmpdir(), 'etg-faults-kafka-'));
  const mqttDir = mkdtempSync(join(tmpdir(), 'etg-faults-mqtt-'));
  // Started as root, Mosquitto drops to the `mosquitto` user and then could not write its persistence file
  // (nor its log) into a root-owned folder: the sessions would silently not survive the restart.
  chmodSync(mqttDir, 0o777);
  const ctx = { mqttDir };
  ctx.kafka = await startBroker({ port: await findFreePort(), dataDir: kafkaDir });
  ctx.mqtt = await startMosquitto({ dataDir: mqttDir, persistence: true });
  log(`kafka ${ctx.kafka.bootstrap}, mosquitto ${ctx.mqtt.url}`);
  // A scenario that throws (a process that would not start, a deadline) is a failed row, and the suite goes on.
  const attempt = async (scenario, fn) => {
    try {
      await fn();
    } catch (err) {
      row(scenario, { ok: false, error: String(err?.message ?? err).slice(0, 300) });
    }
  };
  try {
    if (want('crash')) for (let t = 1; t <= TRIALS; t++) await attempt(`crash trial ${t}`, () => crashTrial(ctx, t));
    if (want('sigterm')) await attempt('SIGTERM under load', () => sigtermUnderLoad(ctx));
    if (want('mosquitto')) await attempt('mosquitto restarted', () => mosquittoRestart(ctx));
    if (want('kafka') || want('drop-oldest') || want('block')) await attempt('kafka outage', () => kafkaOutage(ctx));
    if (want('burst')) {
      for (const [profile, scenario] of BURST_BROKERS) await attempt(scenario, async () => row(scenario, await burstAgainst(ctx, profile, { messages: MESSAGES, devices: DEVICES, log })));
    }
    // HL7: monitors resend what had no ACK; every ACKed message in Kafka, no second event (bench/faults/hl7.mjs).
    if (want('hl7')) for (let t = 1; t <= HL7_TRIALS; t++) await attempt(`hl7 crash trial ${t}`, async () => row('hl7 crash (SIGKILL gateway, 20 monitors)', await hl7CrashTrial(ctx, t, cleanups)));
  } finally {
    await ctx.mqtt.stop().catch(() => undefined);
    await ctx.kafka.stop().catch(() => undefined);
    for (const cleanup of cleanups) await Promise.resolve().then(cleanup).catch(() => undefined);
    rmSync(kafkaDir, { recursive: true, force: true });
    rmSync(mqttDir, { recursive: true, force: true });
  }
  printTable();
  const failed = rows.filter((r) => !r.ok);
  const totals = rows.reduce((t, r) => ({ acked: t.acked + (r.acked ?? 0), lost: t.lost + (r.lost ?? 0) }), { acked: 0, lost: 0 });
  console.log(`\n${rows.length} runs, ${totals.acked} acknowledged messages, ${totals.lost} lost, ${failed.length} failed; ${Math.round((Date.now() - started) / 1000)} s`);
  if (args.json) writeFileSync(args.json, JSON.stringify({ machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, args, rows }, null, 2));
  process.exit(failed.length > 0 || rows.length === 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
