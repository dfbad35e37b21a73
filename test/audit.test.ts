// audit against a real Kafka: records produced with known seq patterns, read back by the CLI.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import type { AuditReport } from '../src/audit/checker.js';
import { CLI } from './support/gateway-process.js';
import { uniqueName } from './support/wait.js';

const run = promisify(execFile);

let counter = 0;
function event(gatewayId: string, deviceId: string, seq: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  counter += 1;
  return { schemaVersion: 2, id: `${gatewayId}-${counter}`, gatewayId, deviceId, seq, type: 'reading', metric: 't', value: seq, unit: null, quality: 'good', sourceTime: null, receivedAt: '2026-11-27T09:00:00.000Z', ...extra };
}

async function produce(bootstrap: string, topic: string, events: readonly Record<string, unknown>[], timestamp?: number): Promise<void> {
  const kafka = new Kafka({ clientId: 'audit-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: events.map((e) => ({ key: String(e.deviceId), value: JSON.stringify(e), ...(timestamp !== undefined ? { timestamp: String(timestamp) } : {}) })),
    });
  } finally {
    await producer.disconnect();
  }
}

async function audit(bootstrap: string, topic: string, ...args: string[]): Promise<{ code: number; report: AuditReport; stdout: string }> {
  const result = await run(process.execPath, [CLI, 'audit', '--brokers', bootstrap, '--topic', topic, '--json', ...args], { timeout: 120_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (err: { code: number; stdout: string; stderr: string }) => {
      if (typeof err.code !== 'number' || err.code === 1) throw new Error(`audit failed: ${err.stderr}`);
      return { code: err.code, stdout: err.stdout };
    },
  );
  return { ...result, report: JSON.parse(result.stdout) as AuditReport };
}

describe('telemetry-gateway audit', () => {
  const kafka = inject('kafkaBootstrap');

  it('finds a planted hole and exits 2; text output names the device and the missing range', async () => {
    const topic = uniqueName('audit-hole');
    const events = [0, 1, 2, 3, 6, 7, 8].map((seq) => event('gw', 'dev-a', seq));
    events.push(...[0, 1, 2].map((seq) => event('gw', 'dev-b', seq)));
    await produce(kafka, topic, events);
    const { code, report } = await audit(kafka, topic);
    expect(code).toBe(2);
    expect(report.complete).toBe(false);
    expect(report.streams).toMatchObject([
      { deviceId: 'dev-a', received: 7, missing: [{ from: 4, to: 5 }], missingCount: 2 },
      { deviceId: 'dev-b', received: 3, missingCount: 0 },
    ]);
    const text = await run(process.execPath, [CLI, 'audit', '--brokers', kafka, '--topic', topic]).catch((err: { code: number; stdout: string }) => err);
    expect(text).toMatchObject({ code: 2 });
    expect((text as { stdout: string }).stdout).toContain('gw/dev-a readings: received 7, seq 0..8; MISSING 2 (seq 4-5)');
  });

  it('accepts a hole covered by a gap event, and reports duplicates and out-of-order records (failing only with --strict)', async () => {
    const topic = uniqueName('audit-gap');
    const gap = event('gw', 'dev-a', 6, { type: 'gap', reason: 'buffer-full', count: 3, fromTime: '2026-11-27T09:00:00.000Z', toTime: '2026-11-27T09:00:01.000Z', fromSeq: 3, toSeq: 5 });
    const a = [0, 1, 2].map((seq) => event('gw', 'dev-a', seq));
    const b = [0, 1, 2, 3].map((seq) => event('gw', 'dev-b', seq));
    const records = [
      ...a,
      gap,
      event('gw', 'dev-a', 7),
      ...b.slice(0, 3),
      b[1] as Record<string, unknown>, // re-sent: same id
      event('gw', 'dev-b', 2), // another id with seq 2
      b[3] as Record<string, unknown>,
      event('gw', 'dev-b', 1), // a new id that goes backwards
    ];
    await produce(kafka, topic, records);
    const { code, report } = await audit(kafka, topic);
    expect(code).toBe(0);
    expect(report.complete).toBe(true);
    expect(report.streams).toMatchObject([
      { deviceId: 'dev-a', received: 5, missingCount: 0, declared: [{ from: 3, to: 5 }], gapEvents: 1 },
      { deviceId: 'dev-b', received: 7, missingCount: 0, duplicateIds: 1, seqConflicts: 2, outOfOrder: 1 },
    ]);
    expect((await audit(kafka, topic, '--strict')).code).toBe(2);
  });

  it('with --since starts at the first record at or after that time, so earlier holes do not count', async () => {
    const topic = uniqueName('audit-since');
    const now = Date.now();
    await produce(kafka, topic, [0, 1, 2].map((seq) => event('gw', 'dev-a', seq)), now - 3_600_000);
    await produce(kafka, topic, [5, 6, 7].map((seq) => event('gw', 'dev-a', seq)), now - 60_000);
    expect((await audit(kafka, topic)).code).toBe(2);
    const { code, report } = await audit(kafka, topic, '--since', '30m');
    expect(code).toBe(0);
    expect(report.streams).toMatchObject([{ deviceId: 'dev-a', received: 3, firstSeq: 5, lastSeq: 7, missingCount: 0 }]);
  });

  it('fails with GW_KAFKA_READ for a topic that does not exist', async () => {
    const err = await run(process.execPath, [CLI, 'audit', '--brokers', kafka, '--topic', uniqueName('audit-none')]).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 1 });
    expect((err as { stderr: string }).stderr).toContain('GW_KAFKA_READ');
  });
});
