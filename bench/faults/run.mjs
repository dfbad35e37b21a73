#!/usr/bin/env node
// Fault-injection suite (npm run test:faults): real Kafka (one broker, or a 3-node cluster), real Mosquitto, the
// gateway as a process, TCP fault proxies, a small tmpfs for the buffer. Every scenario publishes MQTT QoS 1
// messages, injects a fault, and checks that every message the publisher saw acknowledged is in Kafka, that
// per-device seq order holds (the audit; kcat must read the same records), and that duplicates are only re-sends
// of the same event id. Prints a table; exits 1 on any failed scenario.
//
//   node bench/faults/run.mjs [--full] [--only NAME,NAME,prefix-*] [--list] [--client NAME] [--json FILE] [--keep]
//                             [--trials N] [--messages N] [--outage S] [--fault-seconds S]
//
// Without --full the CI sizes run (see SIZES); --full runs the sizes of the reliability targets. The scenarios
// are registered in bench/faults/scenarios.mjs, one file per family.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findFreePort, startBroker } from '../../scripts/kafka-broker.mjs';
import { startMosquitto } from '../../scripts/mosquitto.mjs';
import { GatewayProcess, Publisher, createTopic, uniqueName, writeGatewayConfig } from './lib.mjs';
import { SCENARIOS } from './scenarios.mjs';

/** Sizes per profile: CI keeps `npm test` in its budget, full is what RELIABILITY.md's targets are measured with. */
const SIZES = {
  ci: { trials: 4, messages: 40_000, outage: 20, faultSeconds: 30 },
  full: { trials: 20, messages: 100_000, outage: 60, faultSeconds: 60 },
};

const familyOptions = Object.assign({}, ...SCENARIOS.map((s) => s.options ?? {}));
const { values: raw } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    only: { type: 'string' },
    list: { type: 'boolean', default: false },
    client: { type: 'string' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    trials: { type: 'string' },
    messages: { type: 'string' },
    outage: { type: 'string' },
    'fault-seconds': { type: 'string' },
    ...familyOptions,
  },
});
const sizes = raw.full ? SIZES.full : SIZES.ci;
const args = {
  ...raw,
  trials: Number(raw.trials ?? sizes.trials),
  messages: Number(raw.messages ?? sizes.messages),
  outage: Number(raw.outage ?? sizes.outage),
  faultSeconds: Number(raw['fault-seconds'] ?? sizes.faultSeconds),
};

const patterns = raw.only?.split(',').map((p) => p.trim()).filter(Boolean);
const matches = (name) => !patterns || patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
/** A scenario runs when --only names it (or one of its aliases); without --only, CI scenarios (all with --full). */
const selected = SCENARIOS.filter((s) => (patterns ? [s.name, ...(s.aliases ?? [])].some(matches) : raw.full || s.ci));

if (raw.list) {
  for (const s of SCENARIOS) console.log(`${s.name.padEnd(24)} ${s.ci ? 'ci  ' : 'full'} ${s.description}${s.aliases ? ` (also: ${s.aliases.join(', ')})` : ''}`);
  process.exit(0);
}

const rows = [];
const cleanups = [];
const log = (text) => process.stderr.write(`[faults ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

function row(scenario, fields) {
  const r = { scenario, ...fields };
  rows.push(r);
  log(`${scenario}: ${JSON.stringify(fields)}`);
  return r;
}

function printTable() {
  const columns = ['scenario', 'trial', 'acked', 'records', 'lost', 'dropped', 'duplicateSameId', 'duplicateRedelivered', 'publisherResent', 'duplicatePublisherResend', 'resendsRecognized', 'outOfOrder', 'seqReused', 'auditMissing', 'auditClean', 'gapEvents', 'gapCount', 'gapsMatchLoss', 'cap', 'maxPending', 'backlogAtRestart', 'detectSeconds', 'recoverySeconds', 'drainSeconds', 'stopMs', 'rssMaxMiB', 'extraConnects', 'publishRate', 'gatewayRate', 'brokerDropped', 'gatewayDropped', 'degradedSeen', 'degradedEvent', 'resends', 'recognisedResends', 'secondEvents', 'seconds', 'sessionResumed', 'heldAtDamage', 'refusedExit', 'corruptCode', 'advice', 'fileKept', 'freshDelivered', 'ok', 'error'];
  const used = columns.filter((c) => rows.some((r) => r[c] !== undefined));
  const cell = (r, c) => (r[c] === undefined ? '' : String(r[c]));
  const widths = used.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
  const line = (cells) => `| ${cells.map((s, i) => s.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(used));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(used.map((c) => cell(r, c))));
}

/**
 * What every scenario gets. The shared single broker and Mosquitto start lazily (a cluster-only run starts
 * neither); the broker carries one extra listener per Kafka fault proxy, advertised at the proxy's port.
 */
function createContext() {
  const kafkaDir = mkdtempSync(join(tmpdir(), 'etg-faults-kafka-'));
  const mqttDir = mkdtempSync(join(tmpdir(), 'etg-faults-mqtt-'));
  // Started as root, Mosquitto drops to the `mosquitto` user and then could not write its persistence file
  // (nor its log) into a root-owned folder: the sessions would silently not survive the restart.
  chmodSync(mqttDir, 0o777);
  cleanups.push(() => rmSync(kafkaDir, { recursive: true, force: true }));
  cleanups.push(() => rmSync(mqttDir, { recursive: true, force: true }));
  const proxied = [];
  let kafkaOptions;
  const ctx = {
    args,
    log,
    row,
    mqttDir,
    kafka: undefined,
    mqtt: undefined,
    cleanup: (fn) => cleanups.push(fn),
    /** --only named this alias (or nothing was named): for scenarios that bundle several checks. */
    want: (name) => !patterns || matches(name),
    /** `kafka.client` for every gateway when --client is given (else the gateway's default client). */
    kafkaClientConfig: () => (args.client ? { client: args.client } : {}),
    /** The shared single broker and Mosquitto (`kafka: false`: Mosquitto only, e.g. for a cluster scenario). */
    async ensureBrokers({ kafka = true } = {}) {
      if (kafka && !ctx.kafka) {
        // Four listeners for the Kafka fault-proxy scenarios, each advertised at its future proxy port.
        for (let i = 0; i < 4; i++) proxied.push({ name: `PROXIED${i}`, protocol: 'PLAINTEXT', port: await findFreePort(), advertisedPort: await findFreePort() });
        kafkaOptions = { port: await findFreePort(), dataDir: kafkaDir, listeners: proxied };
        ctx.kafka = await startBroker(kafkaOptions);
        log(`kafka ${ctx.kafka.bootstrap}`);
      }
      if (!ctx.mqtt) {
        ctx.mqtt = await startMosquitto({ dataDir: mqttDir, persistence: true });
        log(`mosquitto ${ctx.mqtt.url}`);
      }
    },
    /** Starts the shared broker again on its port, data and listeners (after a SIGKILL). */
    async restartKafka() {
      ctx.kafka = await startBroker(kafkaOptions);
      return ctx.kafka;
    },
    async restartMosquitto() {
      ctx.mqtt = await startMosquitto({ port: ctx.mqtt.port, dataDir: mqttDir, persistence: true });
      return ctx.mqtt;
    },
    /** Listener i of the shared broker for a fault proxy: { port (the broker's), advertisedPort (the proxy's) }. */
    proxiedListener: (i) => proxied[i],
    /**
     * A fresh gateway (own topics, buffer, MQTT session) and a publisher. `options`: extra config
     * (buffer, kafka, mqttInput, bufferDir), `brokers`/`mqttUrl` to go through a proxy or to a cluster,
     * `bootstrap` + `replicationFactor` for creating the topic.
     */
    async freshGateway(name, options = {}) {
      await ctx.ensureBrokers({ kafka: options.bootstrap === undefined });
      const gatewayId = uniqueName(name);
      const { brokers, mqttUrl, bootstrap, replicationFactor, kafka, ...extra } = options;
      const cfg = writeGatewayConfig({
        gatewayId,
        brokers: brokers ?? [ctx.kafka.bootstrap],
        mqttUrl: mqttUrl ?? ctx.mqtt.url,
        kafka: { ...ctx.kafkaClientConfig(), ...kafka },
        ...extra,
      });
      // --keep leaves each gateway's config, buffer file and log for a look after a failed run.
      if (args.keep) log(`${name}: gateway files in ${cfg.dir}`);
      else cleanups.push(() => rmSync(cfg.dir, { recursive: true, force: true }));
      await createTopic(bootstrap ?? ctx.kafka.bootstrap, cfg.readingsTopic, 3, replicationFactor ?? 1);
      const gateway = new GatewayProcess(cfg.file);
      cleanups.push(() => gateway.kill());
      await gateway.ready();
      const publisher = await Publisher.connect(ctx.mqtt.url, `${gatewayId}-pub`);
      return { cfg, gateway, publisher };
    },
  };
  return ctx;
}

async function main() {
  const started = Date.now();
  log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB; node ${process.version}; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  log(`profile ${raw.full ? 'full' : 'ci'}: ${JSON.stringify({ trials: args.trials, messages: args.messages, outage: args.outage, faultSeconds: args.faultSeconds, client: args.client ?? '(default)' })}`);
  log(`scenarios: ${selected.map((s) => s.name).join(', ') || '(none)'}`);
  const ctx = createContext();
  try {
    for (const scenario of selected) {
      const t0 = Date.now();
      try {
        await scenario.run(ctx);
      } catch (err) {
        // A scenario that throws (a process that would not start, a deadline) is a failed row; the suite goes on.
        row(scenario.name, { ok: false, error: String(err?.message ?? err).slice(0, 300) });
      }
      log(`${scenario.name} took ${Math.round((Date.now() - t0) / 1000)} s; load ${loadavg()[0].toFixed(1)}`);
    }
  } finally {
    await ctx.mqtt?.stop().catch(() => undefined);
    await ctx.kafka?.stop().catch(() => undefined);
    for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch(() => undefined);
  }
  printTable();
  const failed = rows.filter((r) => !r.ok);
  const totals = rows.reduce((t, r) => ({ acked: t.acked + (r.acked ?? 0), lost: t.lost + (r.lost ?? 0) }), { acked: 0, lost: 0 });
  console.log(`\n${rows.length} runs, ${totals.acked} acknowledged messages, ${totals.lost} lost, ${failed.length} failed; ${Math.round((Date.now() - started) / 1000)} s; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  if (args.json) writeFileSync(args.json, JSON.stringify({ machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, args, rows }, null, 2));
  process.exit(failed.length > 0 || rows.length === 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
