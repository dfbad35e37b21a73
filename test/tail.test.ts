import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { formatEventLine } from '../src/commands/tail-format.js';
import { encodeEvent } from '../src/events/encode.js';
import { RecordBuilder } from '../src/forwarder/batching.js';
import { SCHEMA_VERSION, type EncodedRecord, type TelemetryEvent } from '../src/events/index.js';
import { oneEventOfEveryType, produceRecords } from './support/event-records.js';
import { TailProcess } from './support/tail.js';
import { uniqueName, waitFor } from './support/wait.js';

const SOURCE = '/edge-telemetry-gateway/gw-tail';
const TIME = '2026-11-27T09:30:00.000Z';

async function createTopics(bootstrap: string, topics: string[]): Promise<void> {
  const admin = new Kafka({ clientId: 'test-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    // One partition each: per-topic order is total, so a last record that shows proves everything before it was read.
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

function reading(deviceId: string, metric: string, value: number, seq: number, unit = '%'): TelemetryEvent {
  const [template] = oneEventOfEveryType('gw-tail', deviceId, TIME);
  if (template?.type !== 'reading') throw new Error('fixture order changed');
  return { ...template, seq, metric, value, unit };
}

const encode = (events: TelemetryEvent[]): EncodedRecord[] => events.map((e) => encodeEvent(e, SOURCE));

describe('formatEventLine', () => {
  it('writes one readable line per event type', () => {
    const lines = oneEventOfEveryType('gw-tail', 'oximeter-1', TIME).map(formatEventLine);
    expect(lines).toEqual([
      `${TIME}  oximeter-1  spo2 = 97 %  good`,
      `${TIME}  oximeter-1  pulse-rate = —  bad`,
      `${TIME}  oximeter-1  ALARM spo2-low active (high): SpO2 below 90 %  [spo2 = 86]`,
      `${TIME}  oximeter-1  STATUS online → offline: serial port closed`,
      `${TIME}  oximeter-1  HEALTH up 62 s  backlog=3 sentPerSecond=12.5`,
      `${TIME}  oximeter-1  GAP 5 event(s) missing (seq 2–6) 2026-11-27T09:29:00.000Z … 2026-11-27T09:29:04.000Z: buffer-full`,
      `${TIME}  oximeter-1  DEAD-LETTER site sensors/broken: payload is not JSON (7 bytes)`,
    ]);
    expect(formatEventLine({ ...reading('room-1', 'temperature', 21.5, 1, 'Cel'), sourceTime: '2026-11-27T09:29:59.500Z' })).toBe(
      '2026-11-27T09:29:59.500Z  room-1  temperature = 21.5 °C  good',
    );
  });
});

describe('telemetry-gateway tail against the real Kafka broker', () => {
  const kafka = inject('kafkaBootstrap');
  let tail: TailProcess | undefined;

  afterEach(async () => {
    if (tail) expect(await tail.interrupt()).toBe(0);
    tail = undefined;
  });

  it('--device keeps one device across all five gateway topics; undecodable records go to stderr and tail goes on', async () => {
    const prefix = `${uniqueName('tail-dev')}.`;
    const topics = ['readings', 'alarms', 'device-status', 'gateway-health', 'deadletter'].map((t) => `${prefix}${t}`);
    await createTopics(kafka, topics);
    const all = (device: string): TelemetryEvent[] => oneEventOfEveryType('gw-tail', device, TIME);
    const topicOf = (e: TelemetryEvent): string =>
      `${prefix}${{ reading: 'readings', gap: 'readings', alarm: 'alarms', 'device-status': 'device-status', 'gateway-health': 'gateway-health', 'dead-letter': 'deadletter' }[e.type]}`;
    // Per topic: the other device first, then ours last.
    const wanted = all('bed-3');
    for (const topic of topics) {
      const others = all('bed-4').filter((e) => topicOf(e) === topic);
      const ours = wanted.filter((e) => topicOf(e) === topic);
      const garbage: EncodedRecord[] = topic.endsWith('readings') ? [{ key: 'bed-4', value: 'not json', headers: {} }] : [];
      await produceRecords(kafka, topic, [...garbage, ...encode(others), ...encode(ours)]);
    }
    tail = new TailProcess(['--brokers', kafka, '--prefix', prefix, '--from-beginning', '--device', 'bed-3']);
    const lines = await tail.waitForLines(wanted.length);
    expect(new Set(lines)).toEqual(new Set(wanted.map(formatEventLine)));
    expect(lines).toHaveLength(wanted.length);
    expect(tail.stderr).toMatch(new RegExp(`${prefix.replace(/\./g, '\\.')}readings/0@0: GW_EVENT_INVALID: the record value is not JSON`));
  });

  it('--type and --topic select event types on the chosen topics', async () => {
    const prefix = `${uniqueName('tail-type')}.`;
    await createTopics(kafka, [`${prefix}readings`, `${prefix}alarms`]);
    const events = oneEventOfEveryType('gw-tail', 'bed-5', TIME);
    const readings = events.filter((e) => e.type === 'reading');
    const gap = events.filter((e) => e.type === 'gap');
    const alarm = events.filter((e) => e.type === 'alarm');
    await produceRecords(kafka, `${prefix}readings`, encode([...readings, ...gap]));
    await produceRecords(kafka, `${prefix}alarms`, encode(alarm));
    tail = new TailProcess(['-b', kafka, '--topic', `${prefix}readings`, '--topic', `${prefix}alarms`, '--from-beginning', '--type', 'gap,alarm']);
    const lines = await tail.waitForLines(2);
    expect(new Set(lines)).toEqual(new Set([...gap, ...alarm].map(formatEventLine)));
  });

  it('--metric with --json prints the matching events as JSON lines of the current schema version', async () => {
    const prefix = `${uniqueName('tail-json')}.`;
    await createTopics(kafka, [`${prefix}readings`]);
    const events = [reading('bed-6', 'pulse-rate', 72, 1, '/min'), reading('bed-6', 'spo2', 95, 2), reading('bed-6', 'pulse-rate', 74, 3, '/min'), reading('bed-6', 'spo2', 94, 4)];
    await produceRecords(kafka, `${prefix}readings`, encode(events));
    tail = new TailProcess(['-b', kafka, '--prefix', prefix, '--topic', `${prefix}readings`, '--from-beginning', '--metric', 'spo2', '--json']);
    const lines = await tail.waitForLines(2);
    const printed = lines.map((l) => JSON.parse(l) as TelemetryEvent);
    expect(printed).toEqual(events.filter((e) => e.type === 'reading' && e.metric === 'spo2'));
    for (const e of printed) expect(e.schemaVersion).toBe(SCHEMA_VERSION);
  });

  it('prints CloudEvents structured-mode records (kafka.cloudEvents: structured) as the same events as binary ones', async () => {
    const prefix = `${uniqueName('tail-structured')}.`;
    await createTopics(kafka, [`${prefix}readings`]);
    const events = [reading('bed-7', 'spo2', 96, 1), reading('bed-7', 'pulse-rate', 71, 2, '/min')];
    // Built by the gateway's own record builder in structured mode: one content-type header, the event in `data`.
    const builder = new RecordBuilder({ gatewayId: 'gw-tail', cloudEvents: 'structured' });
    const records = events.map((e) =>
      builder.build({ id: e.id, deviceId: e.deviceId, type: e.type, family: 'readings', eventTime: e.sourceTime ?? e.receivedAt, payload: JSON.stringify(e) }),
    );
    expect(records[0]?.headers).toEqual({ 'content-type': 'application/cloudevents+json' });
    await produceRecords(kafka, `${prefix}readings`, records);
    tail = new TailProcess(['-b', kafka, '--topic', `${prefix}readings`, '--from-beginning', '--json']);
    const lines = await tail.waitForLines(2);
    expect(lines.map((l) => JSON.parse(l) as TelemetryEvent)).toEqual(events);
    expect(tail.stderr).not.toMatch(/GW_EVENT_/);
  });

  it('without --from-beginning shows only events that arrive after it started, and Ctrl-C ends it with exit 0', async () => {
    const prefix = `${uniqueName('tail-live')}.`;
    await createTopics(kafka, [`${prefix}readings`]);
    const old = [reading('bed-7', 'spo2', 91, 1), reading('bed-7', 'spo2', 92, 2)];
    const fresh = [reading('bed-7', 'spo2', 93, 3), reading('bed-7', 'spo2', 94, 4)];
    await produceRecords(kafka, `${prefix}readings`, encode(old));
    tail = new TailProcess(['-b', kafka, '--prefix', prefix]);
    await waitFor('tail to report it is tailing', () => {
      if (tail?.child.exitCode !== null) throw new Error(`tail exited: ${tail?.stderr}`);
      return tail.stderr.includes('tailing ');
    }, { timeoutMs: 60_000 });
    await produceRecords(kafka, `${prefix}readings`, encode(fresh));
    const lines = await tail.waitForLines(2);
    expect(lines).toEqual(fresh.map(formatEventLine));
    expect(await tail.interrupt()).toBe(0);
    tail = undefined;
  });

  it('when none of the topics exists, names the prefixes of the gateway topics that do, nearest first', async () => {
    const prefix = `${uniqueName('tail-prefix')}.`;
    await createTopics(kafka, [`${prefix}readings`]);
    const wrong = new TailProcess(['-b', kafka, '--prefix', `${prefix.slice(0, -1)}x.`]);
    expect(await wrong.exited).toBe(64);
    expect(wrong.stderr).toContain(`GW_USAGE: none of the topics exists on ${kafka}: ${prefix.slice(0, -1)}x.readings,`);
    expect(wrong.stderr).toContain(`  - topics of gateways with another prefix exist here: --prefix ${prefix}`);
    expect(wrong.stderr).toContain('  - a gateway creates its topics with its first events');
  });

  it('refuses an unknown --type with a usage error', async () => {
    const bad = new TailProcess(['-b', kafka, '--type', 'readings']);
    expect(await bad.exited).toBe(64);
    expect(bad.stderr).toContain('GW_USAGE: --type readings: unknown event type');
  });
});
