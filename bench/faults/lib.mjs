// Building blocks of the fault-injection suite: the gateway as a process, an MQTT QoS 1 publisher that counts
// PUBACKs, gateway configs, Kafka and buffer probes, and the delivery check (loss, both kinds of duplicates,
// the audit of per-device seq order).
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { AuditChecker } from '../../dist/audit/checker.js';
import { readTopicWindow } from '../../dist/audit/topic-reader.js';
import { openBufferReadOnly } from '../../dist/buffer/reader.js';

export const CLI = resolve(import.meta.dirname, '../../dist/cli.js');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until truthy or the deadline (then throws naming `what`). */
export async function waitFor(what, check, { timeoutMs = 60_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (${lastError.message})` : ''}`);
    await sleep(intervalMs);
  }
}

export function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/** `node dist/cli.js run --config FILE` with its JSON log lines collected. */
export class GatewayProcess {
  constructor(configFile) {
    this.logs = [];
    this.stderr = '';
    // FAULTS_LOG_LEVEL=debug also shows the Kafka client's own warnings (for a look with --keep).
    const env = { ...process.env, LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'info' };
    this.child = spawn(process.execPath, [CLI, 'run', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env });
    // Every line also goes to gateway.log next to the config (kept with --keep).
    const file = createWriteStream(join(dirname(configFile), 'gateway.log'), { flags: 'a' });
    this.child.once('exit', () => file.end());
    let partial = '';
    this.child.stdout.on('data', (chunk) => {
      file.write(chunk);
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          this.logs.push({ msg: line });
        }
      }
    });
    this.child.stderr.on('data', (chunk) => (this.stderr += chunk.toString()));
    this.exited = new Promise((r) => this.child.once('exit', (code, signal) => r({ code, signal, at: Date.now() })));
  }

  async waitForLog(msg, timeoutMs = 60_000) {
    return waitFor(`gateway log "${msg}"`, () => {
      if (this.child.exitCode !== null) throw new Error(`gateway exited (${this.child.exitCode}): ${this.stderr.slice(-2000)}`);
      return this.logs.find((l) => l.msg === msg);
    }, { timeoutMs, intervalMs: 20 });
  }

  async ready() {
    await this.waitForLog('gateway started');
    await this.waitForLog('mqtt subscribed');
  }

  /** SIGKILL, no warning; resolves when the process is gone. */
  async kill() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM; resolves with { code, ms } (SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 60_000) {
    const t0 = Date.now();
    if (this.child.exitCode !== null) return { code: this.child.exitCode, ms: 0 };
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const { code } = await this.exited;
    clearTimeout(timer);
    return { code, ms: Date.now() - t0 };
  }
}

/**
 * A gateway config in a fresh folder: by default one MQTT input (QoS 1, persistent session), one reading per
 * message; `inputs` replaces it (other input families' scenarios).
 */
export function writeGatewayConfig({ gatewayId, brokers, mqttUrl, buffer = {}, shutdown = {}, kafka = {}, mqttInput = {}, bufferDir, inputs }) {
  const dir = mkdtempSync(join(tmpdir(), 'etg-faults-'));
  const bufferPath = join(bufferDir ?? dir, 'buffer.db');
  const config = {
    gateway: { id: gatewayId },
    logging: { level: 'info' },
    buffer: { path: bufferPath, ...buffer },
    kafka: {
      brokers,
      topics: { prefix: `${gatewayId}.` },
      retry: { initial: '200ms', max: '2s' },
      connectionTimeout: '2s',
      requestTimeout: '10s',
      ...kafka,
    },
    shutdown: { drainTimeout: '10s', ...shutdown },
    // Several gateways run at once (the capped ones next to the outage one): each takes a free HTTP port.
    http: { port: 0 },
    inputs: inputs ?? [
      {
        type: 'mqtt',
        name: 'site',
        url: mqttUrl,
        clientId: `${gatewayId}-site`,
        reconnect: { initial: '200ms', max: '1s' },
        ...mqttInput,
        subscriptions: [
          {
            topic: `${gatewayId}/sensors/+`,
            qos: 1,
            deviceId: '{2}',
            timestamp: { field: 'time', format: 'unix-ms' },
            metrics: [{ field: 'temperature', metric: 'temperature', unit: 'Cel' }],
          },
        ],
      },
    ],
  };
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify(config));
  return { file, dir, bufferPath, readingsTopic: `${gatewayId}.readings`, baseTopic: `${gatewayId}/sensors` };
}

/**
 * Publishes messages 0..count-1 with QoS 1 over `devices` devices, at most `window` unacknowledged, optionally
 * at `ratePerSec`. `acked` holds the numbers whose PUBACK arrived: those are what the gateway must deliver.
 */
export class Publisher {
  static async connect(url, clientId) {
    const client = await mqtt.connectAsync(url, { clientId, clean: true, reconnectPeriod: 200, connectTimeout: 5000 });
    return new Publisher(client);
  }

  constructor(client) {
    this.client = client;
    this.acked = new Set();
    this.attempted = 0;
    /**
     * Message numbers this client put on the wire more than once. MQTT.js re-sends every unacknowledged QoS 1
     * PUBLISH after a reconnect; when the broker had already taken the first copy (its PUBACK lost with the
     * connection, or a broker restarted without our clean session) it forwards both as two messages with their
     * own packet ids and DUP=0. The gateway cannot tell them apart from two readings: they are the publisher's
     * at-least-once, not a redelivery to the gateway, and the delivery check counts them on their own.
     */
    this.resent = new Set();
    // Keyed by the payload itself (unique: it carries n): only a re-send is parsed, not every message of a burst.
    const sent = new Set();
    client.on('packetsend', (packet) => {
      if (packet.cmd !== 'publish') return;
      const payload = String(packet.payload);
      if (sent.has(payload)) this.resent.add(JSON.parse(payload).n);
      else sent.add(payload);
    });
  }

  async publish(baseTopic, count, { devices = 10, window = 500, ratePerSec } = {}) {
    const inFlight = new Set();
    const t0 = Date.now();
    for (let n = 0; n < count; n++) {
      if (ratePerSec !== undefined) {
        const due = t0 + (n / ratePerSec) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      this.attempted += 1;
      const payload = `{"n":${n},"temperature":${n},"time":${Date.now()}}`;
      const p = this.client.publishAsync(`${baseTopic}/dev-${n % devices}`, payload, { qos: 1 }).then(() => this.acked.add(n), () => undefined);
      inFlight.add(p);
      p.finally(() => inFlight.delete(p));
      if (inFlight.size >= window) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  }

  async close() {
    await this.client.endAsync(true);
  }
}

/** Records on the topic right now (sum over partitions of high - low); 0 when the topic does not exist yet. */
export async function topicSize(bootstrap, topic) {
  const kafka = new Kafka({ clientId: 'faults-admin', brokers: [bootstrap].flat(), logLevel: logLevel.NOTHING, retry: { retries: 1 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
  } catch {
    return 0;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Creates the topic with several partitions up front, so per-device order is checked across partitions. */
export async function createTopic(bootstrap, topic, partitions = 3, replicationFactor = 1) {
  const kafka = new Kafka({ clientId: 'faults-admin', brokers: [bootstrap].flat(), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Events in a buffer file (pending, retained = delivered and kept, total ever committed and still there), read with
 * the gateway's own read-only reader; undefined while the file is not there (or not yet a buffer).
 */
export function bufferCounts(path) {
  let reader;
  try {
    reader = openBufferReadOnly(path, 5000);
    return reader.counts();
  } catch {
    return undefined;
  } finally {
    reader?.close();
  }
}

/** Pending (not yet delivered) events in a buffer file, read-only; undefined while the file is not there. */
export function pendingInBuffer(path) {
  return bufferCounts(path)?.pending;
}

/**
 * Waits until everything the publisher got acknowledged had its chance to arrive: the buffer is empty and the
 * topic holds at least `expected` records and stopped growing. When the topic stops short (nothing pending,
 * no growth for `settleMs`) or the deadline passes it returns anyway: the delivery check then reports the loss.
 */
export async function waitForQuiet(bootstrap, topic, bufferPath, expected, { timeoutMs = 300_000, settleMs = 20_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const size = await topicSize(bootstrap, topic);
    const pending = pendingInBuffer(bufferPath);
    if (size !== last) {
      last = size;
      stableSince = Date.now();
    }
    const stableFor = Date.now() - stableSince;
    if (pending === 0 && stableFor >= (size >= expected ? 1500 : settleMs)) return { size, settled: size >= expected };
    if (Date.now() > deadline) return { size, settled: false };
    await sleep(250);
  }
}

/**
 * Reads a whole topic once: every record goes to the audit checker (per-device seq), a record repeating an event id
 * is counted as a re-send (at-least-once forwarding), every distinct event goes to `onEvent`.
 */
export async function readTopicEvents(bootstrap, topic, onEvent) {
  const checker = new AuditChecker();
  const ids = new Set();
  let records = 0;
  let sameId = 0;
  await readTopicWindow({
    brokers: [bootstrap].flat(),
    topic,
    timeoutMs: 300_000,
    onRecord: (record) => {
      records += 1;
      checker.add(record);
      const e = JSON.parse(record.value);
      if (ids.has(e.id)) {
        sameId += 1;
        return;
      }
      ids.add(e.id);
      onEvent(e);
    },
  });
  return { records, sameId, audit: checker.report() };
}

/**
 * Reads the whole topic and checks it against what the publisher saw acknowledged:
 * lost = acknowledged message numbers with no reading; duplicates are counted apart as re-sends of the same
 * event id (at-least-once forwarding) and MQTT redeliveries (the same message number as a second event with
 * a new id: the broker redelivers a message committed but not yet acknowledged when the gateway died);
 * the audit checks per-device seq: no undeclared hole, no out-of-order record, no seq reused.
 */
export async function checkDelivery(bootstrap, topic, acked, devices = 10, publisherResent = new Set()) {
  const numbers = new Map(); // n -> Set of event ids
  let gapCount = 0;
  const gapByDevice = new Map();
  const { records, sameId, audit } = await readTopicEvents(bootstrap, topic, (e) => {
    if (e.type === 'gap') {
      gapCount += e.count;
      gapByDevice.set(e.deviceId, (gapByDevice.get(e.deviceId) ?? 0) + e.count);
    }
    if (e.type !== 'reading') return;
    let set = numbers.get(e.value);
    if (!set) numbers.set(e.value, (set = new Set()));
    set.add(e.id);
  });
  let lost = 0;
  const lostSample = [];
  const lostByDevice = new Map();
  for (const n of acked) {
    if (numbers.has(n)) continue;
    lost += 1;
    const device = `dev-${n % devices}`;
    lostByDevice.set(device, (lostByDevice.get(device) ?? 0) + 1);
    if (lostSample.length < 10) lostSample.push(n);
  }
  let redelivered = 0;
  let publisherDuplicates = 0;
  let redeliveredFrom;
  let redeliveredTo;
  for (const [n, set] of numbers) {
    if (set.size < 2) continue;
    if (publisherResent.has(n)) {
      publisherDuplicates += set.size - 1;
      continue;
    }
    redelivered += set.size - 1;
    redeliveredFrom = Math.min(redeliveredFrom ?? n, n);
    redeliveredTo = Math.max(redeliveredTo ?? n, n);
  }
  // The same topic through a third-party client: it must see exactly the records ours read.
  const kcatRecords = kcatCount(bootstrap, topic);
  // Gap events must account for exactly the readings that are missing, device by device.
  const gapDevices = new Set([...gapByDevice.keys(), ...lostByDevice.keys()].filter((d) => d.startsWith('dev-')));
  const gapsMatchLoss = [...gapDevices].every((d) => (gapByDevice.get(d) ?? 0) === (lostByDevice.get(d) ?? 0));
  const undeclaredLost = [...lostByDevice].reduce((sum, [d, n]) => sum + Math.max(0, n - (gapByDevice.get(d) ?? 0)), 0);
  const otherGapCount = [...gapByDevice].filter(([d]) => !d.startsWith('dev-')).reduce((sum, [, n]) => sum + n, 0);
  return {
    records,
    kcatRecords,
    kcatAgrees: kcatRecords === records,
    lost,
    lostSample: lostSample.sort((a, b) => a - b).join(' '),
    duplicateSameId: sameId,
    duplicateRedelivered: redelivered,
    /** Second events for a message the publisher itself sent twice (see Publisher.resent): outside the gateway's reach. */
    duplicatePublisherResend: publisherDuplicates,
    redeliveredRange: redelivered > 0 ? `${redeliveredFrom}-${redeliveredTo}` : '',
    auditMissing: audit.totals.missing,
    auditDeclared: audit.totals.declared,
    outOfOrder: audit.totals.outOfOrder,
    seqReused: audit.totals.seqConflicts,
    // Clean = our checker finds nothing and kcat read the same number of records.
    auditClean: audit.clean && kcatRecords === records,
    gapEvents: audit.streams.reduce((s, r) => s + r.gapEvents, 0),
    /** Events the gap events say were dropped: for the publisher's devices, and for others (the gateway's own health events). */
    gapCount: gapCount - otherGapCount,
    otherGapCount,
    gapsMatchLoss,
    undeclaredLost,
  };
}

/** The port a gateway's HTTP listener took (its `status page: URL` log record), once it logged it. */
export function httpPort(gateway) {
  return gateway.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('status page: '))?.port;
}

/** Sum of a metric's samples on a gateway's /metrics (all label sets); undefined when it cannot be read. */
export async function gatewayMetric(gateway, name) {
  const port = httpPort(gateway);
  if (!port) return undefined;
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    let sum;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
      sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  } catch {
    return undefined;
  }
}

/** GET /readyz of a gateway: { status, body } (undefined when the listener does not answer). */
export async function readyz(gateway) {
  const port = httpPort(gateway);
  if (!port) return undefined;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.json() };
  } catch {
    return undefined;
  }
}

/** Resident memory of a process in MiB (Linux /proc), undefined when it is gone. */
export function rssMiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    // A process that already exited (a zombie) has no VmRSS.
    return Number.isFinite(kb) ? Math.round(kb / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** Delivered (Kafka-acknowledged) events in a buffer file, read-only. */
export function deliveredInBuffer(path) {
  return bufferCounts(path)?.retained;
}

/** Records on the topic as a third-party client (kcat) reads them from the beginning to the end. */
export function kcatCount(bootstrap, topic) {
  const out = execFileSync('kcat', ['-C', '-b', [bootstrap].flat().join(','), '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '.'], {
    maxBuffer: 64 * 1024 * 1024,
    timeout: 300_000,
  });
  return out.length;
}
