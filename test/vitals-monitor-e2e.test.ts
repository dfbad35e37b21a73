/**
 * The example sink end to end: the pulse-oximeter simulator (scripted desaturation) → real pseudo-terminal → the
 * gateway process (serial input) → Kafka → examples/vitals-monitor (its own process, built with its own tsconfig)
 * → alarm events on the alerts topic: one active and one cleared per desaturation episode, also when the monitor is
 * restarted in the middle of an episode. Then the same reading records are produced again (same ids), once while
 * the monitor runs and once while it is stopped and restarted: still exactly those alarms.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeEvent, type AlarmEvent } from '../src/events/index.js';
import { startSerialSimulator, type SerialSimulator } from '../src/simulators/serial.js';
import { GatewayProcess, writeTestConfig } from './support/gateway-process.js';
import { produceRecords } from './support/event-records.js';
import { readTopic, topicSize } from './support/kafka.js';
import { uniqueName, waitFor } from './support/wait.js';

const root = resolve(import.meta.dirname, '..');
const MONITOR = join(root, 'dist/examples/vitals-monitor/main.js');
const DEVICE = 'bed-7-oximeter';

interface MonitorLog {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** `node dist/examples/vitals-monitor/main.js --config F`, its JSON log lines collected. */
class MonitorProcess {
  readonly logs: MonitorLog[] = [];
  stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(configFile: string) {
    this.child = spawn(process.execPath, [MONITOR, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.logs.push(JSON.parse(line) as MonitorLog);
    });
    this.child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  async waitForLog(msg: string, match: (l: MonitorLog) => boolean = () => true): Promise<MonitorLog> {
    return waitFor(`vitals-monitor log "${msg}"`, () => {
      if (this.child.exitCode !== null) throw new Error(`vitals-monitor exited ${this.child.exitCode}: ${this.stderr}`);
      return this.logs.find((l) => l.msg === msg && match(l));
    }, { timeoutMs: 60_000 });
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

/** True when the group has committed at least `targets` (partition → offset) on the topic. */
async function committedAtLeast(bootstrap: string, groupId: string, topic: string, targets: ReadonlyMap<number, number>): Promise<boolean> {
  const admin = new Kafka({ clientId: 'test-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = new Map((offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    // An empty partition has nothing to commit (-1).
    if ([...targets].every(([partition, high]) => high === 0 || (committed.get(partition) ?? -1) >= high)) return true;
    throw new Error(`committed ${JSON.stringify([...committed])}, waiting for ${JSON.stringify([...targets])}`);
  } finally {
    await admin.disconnect();
  }
}

async function highWatermarks(bootstrap: string, topic: string): Promise<Map<number, number>> {
  const admin = new Kafka({ clientId: 'test-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

describe('vitals-monitor: one alarm per desaturation episode, through the gateway, replays included', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const gatewayId = uniqueName('vitals');
  const prefix = `${gatewayId}.`;
  const readingsTopic = `${prefix}readings`;
  const alertsTopic = `${prefix}alerts`;
  const groupId = `${gatewayId}-monitor`;
  let simulator: SerialSimulator;
  let gateway: GatewayProcess;
  let monitor: MonitorProcess;
  let monitorConfig: string;

  beforeAll(async () => {
    // The example is compiled like a consumer project: its own tsconfig, against this package's build.
    await promisify(execFile)(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'examples/vitals-monitor')], { cwd: root });

    // One record a second: 3 s normal, episode 1 = 14 s at 85 % (more than the rule's 10 s), 6 s normal,
    // episode 2 = 24 s at 86 % (the monitor is restarted in it), then normal again (the last values repeat).
    const records = (n: number, spo2: number, hr: number): { spo2: number; hr: number }[] => Array.from({ length: n }, () => ({ spo2, hr }));
    const script = [...records(3, 97, 72), ...records(14, 85, 76), ...records(6, 96, 72), ...records(24, 86, 78), { spo2: 96, hr: 72 }];
    simulator = await startSerialSimulator({ driver: 'pulse-oximeter-ascii', configDir: root, script });
    const { file, dir } = writeTestConfig({
      gatewayId,
      brokers: [kafka],
      mqttUrl,
      topicPrefix: prefix,
      overrides: { inputs: [{ type: 'serial', name: 'oximeter', port: simulator.path, driver: 'pulse-oximeter-ascii', deviceId: DEVICE }] },
    });
    monitorConfig = join(dir, 'vitals-monitor.yaml');
    writeFileSync(
      monitorConfig,
      stringify({
        monitorId: 'monitor-under-test',
        kafka: { brokers: [kafka], clientId: groupId, groupId, readings: [readingsTopic], alerts: alertsTopic },
        state: join(dir, 'vitals-monitor.db'),
        rules: join(root, 'examples/vitals-monitor/rules.yaml'),
        maxAge: '10m',
      }),
    );
    monitor = new MonitorProcess(monitorConfig);
    gateway = new GatewayProcess(file);
    await gateway.started();
    await monitor.waitForLog('vitals-monitor started');
  });

  afterAll(async () => {
    expect(await monitor?.stop()).toBe(0);
    expect(await gateway?.stop()).toBe(0);
    await simulator?.stop();
  });

  async function alarms(): Promise<AlarmEvent[]> {
    const count = await topicSize(kafka, alertsTopic);
    const records = await readTopic(kafka, alertsTopic, count);
    return records
      .map((r) => decodeEvent(r))
      .filter((e): e is AlarmEvent => e.type === 'alarm')
      .sort((a, b) => a.seq - b.seq);
  }

  /** Produces every reading record again, as it is (key, value, headers: same event ids). */
  async function replayReadings(): Promise<{ replayed: number; until: Map<number, number> }> {
    const records = await readTopic(kafka, readingsTopic, await topicSize(kafka, readingsTopic));
    await produceRecords(kafka, readingsTopic, records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })));
    return { replayed: records.length, until: await highWatermarks(kafka, readingsTopic) };
  }

  it('raises spo2-low once for the episode, then clears it', async () => {
    await monitor.waitForLog('alarm produced', (l) => l.alarm === 'spo2-low' && l.state === 'cleared');
    const raised = await alarms();
    expect(raised.map((a) => [a.deviceId, a.alarm, a.state])).toEqual([
      [DEVICE, 'spo2-low', 'active'],
      [DEVICE, 'spo2-low', 'cleared'],
    ]);
    const [active] = raised;
    expect(active?.value).toBe(85);
    expect(active?.metric).toBe('spo2');
    expect(active?.gatewayId).toBe('monitor-under-test');
    expect(active?.seq).toBe(0);
  });

  it('does not raise the episode again when restarted in the middle of it (rule state is durable)', async () => {
    await monitor.waitForLog('alarm produced', (l) => l.alarm === 'spo2-low' && l.state === 'active' && l.value === 86);
    expect(await monitor.stop()).toBe(0);
    monitor = new MonitorProcess(monitorConfig);
    await monitor.waitForLog('vitals-monitor started');
    // The rest of episode 2 (more than 10 s of low readings) reaches the restarted monitor; then SpO2 recovers.
    await simulator.scriptDone;
    await monitor.waitForLog('alarm produced', (l) => l.alarm === 'spo2-low' && l.state === 'cleared');
    expect(monitor.logs.filter((l) => l.msg === 'alarm produced').map((l) => l.state)).toEqual(['cleared']);
    expect((await alarms()).map((a) => `${a.state}:${String(a.value)}:${a.seq}`)).toEqual(['active:85:0', 'cleared:96:1', 'active:86:2', 'cleared:96:3']);
  });

  it('raises nothing more when the same readings are produced again while it runs', async () => {
    const { replayed, until } = await replayReadings();
    expect(replayed).toBeGreaterThanOrEqual(48 * 3); // spo2, pulse-rate and perfusion-index per record
    await waitFor('the monitor to commit past the replayed records', () => committedAtLeast(kafka, groupId, readingsTopic, until), { timeoutMs: 60_000 });
    expect((await alarms()).map((a) => a.state)).toEqual(['active', 'cleared', 'active', 'cleared']);
  });

  it('raises nothing more after a restart with the readings replayed while it was down', async () => {
    expect(await monitor.stop()).toBe(0);
    const stopped = monitor.logs.find((l) => l.msg === 'vitals-monitor stopped');
    expect(stopped?.duplicates).toBeGreaterThan(0);
    expect(stopped?.alarms).toBe(1); // this process (since the restart in episode 2) produced only its clearing
    const { until } = await replayReadings();
    monitor = new MonitorProcess(monitorConfig);
    await monitor.waitForLog('vitals-monitor started');
    await waitFor('the restarted monitor to commit past the replayed records', () => committedAtLeast(kafka, groupId, readingsTopic, until), { timeoutMs: 60_000 });
    expect((await alarms()).map((a) => `${a.alarm}:${a.state}`)).toEqual(['spo2-low:active', 'spo2-low:cleared', 'spo2-low:active', 'spo2-low:cleared']);
    expect(monitor.logs.some((l) => l.msg === 'alarm produced')).toBe(false);
  });
});
