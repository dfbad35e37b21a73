// The forwarder against a fake transport (the Kafka seam): delivery only on acknowledgement, retry of the same
// batch in order, routing and headers, adaptation to a broker that refuses large batches.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteBuffer } from '../src/buffer/sqlite-buffer.js';
import { TopicsConfig } from '../src/config/schema.js';
import type { EventDraft } from '../src/events/schema.js';
import { Forwarder } from '../src/forwarder/forwarder.js';
import type { KafkaTransport, TopicBatch } from '../src/forwarder/kafka-transport.js';
import { systemClock } from '../src/util/clock.js';
import { createLogger } from '../src/util/logger.js';
import { waitFor } from './support/wait.js';

class FakeTransport implements KafkaTransport {
  readonly sent: TopicBatch[][] = [];
  failuresLeft = 0;
  failure: Error & { type?: string } = new Error('broker unreachable');
  connects = 0;
  async connect(): Promise<void> {
    this.connects += 1;
  }
  async send(batches: readonly TopicBatch[]): Promise<void> {
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      throw this.failure;
    }
    this.sent.push(batches.map((b) => ({ topic: b.topic, messages: [...b.messages] })));
  }
  async reset(): Promise<void> {}
  async close(): Promise<void> {}
}

function setup(options: { maxEvents?: number; maxBytes?: number; lingerMs?: number; drainDeadlineMs?: number } = {}) {
  const buffer = new SqliteBuffer({
    path: join(mkdtempSync(join(tmpdir(), 'etg-fwd-')), 'b.db'),
    gatewayId: 'gw',
    synchronous: 'NORMAL',
    commitLingerMs: 0,
    maxEventsPerCommit: 10_000,
    maxEvents: 1e6,
    maxBytes: 1e9,
    whenFull: 'drop-oldest',
    retentionMs: 60_000,
    retentionMaxBytes: 1e9,
    clock: systemClock,
  });
  buffer.open();
  const transport = new FakeTransport();
  const forwarder = new Forwarder(
    buffer,
    transport,
    {
      gatewayId: 'gw',
      topics: TopicsConfig.parse({ prefix: 't.' }),
      maxEvents: options.maxEvents ?? 100,
      maxBytes: options.maxBytes ?? 1_000_000,
      lingerMs: options.lingerMs ?? 0,
      cloudEvents: 'binary',
      retryInitialMs: 5,
      retryMaxMs: 20,
      drain: { mode: 'oldest-first', liveWindow: 10_000, backlogShare: 0.5 },
      drainDeadlineMs: options.drainDeadlineMs ?? 1000,
      clock: systemClock,
    },
    createLogger('silent'),
  );
  return { buffer, transport, forwarder };
}

const reading = (deviceId: string, value: number): EventDraft => ({
  type: 'reading', deviceId, sourceTime: null, receivedAt: new Date().toISOString(), metric: 'm', value, unit: null, quality: 'good',
});

describe('Forwarder', () => {
  it('routes by family, keys by device, sets CloudEvents headers, and marks delivered only after the send', async () => {
    const { buffer, transport, forwarder } = setup();
    await buffer.append([reading('a', 1), { type: 'alarm', deviceId: 'a', sourceTime: '2026-01-01T00:00:00.000Z', receivedAt: new Date().toISOString(), alarm: 'x', state: 'active', severity: 'high', message: 'm' }]);
    await forwarder.start();
    await waitFor('delivered', () => buffer.pendingCount === 0);
    await forwarder.stop();
    const [first] = transport.sent;
    expect(first?.map((b) => b.topic)).toEqual(['t.alarms', 't.readings']);
    const alarmRecord = first?.[0]?.messages[0];
    expect(alarmRecord?.key).toBe('a');
    expect(alarmRecord?.headers).toMatchObject({ ce_specversion: '1.0', ce_type: 'io.edge-telemetry-gateway.alarm.v1', ce_time: '2026-01-01T00:00:00.000Z', ce_source: '/edge-telemetry-gateway/gw' });
    expect(JSON.parse(String(alarmRecord?.value ?? '{}')).id).toBe(alarmRecord?.headers.ce_id);
    buffer.close();
  });

  it('retries the same batch after failures, keeps order, and loses nothing', async () => {
    const { buffer, transport, forwarder } = setup({ maxEvents: 10 });
    transport.failuresLeft = 3;
    await buffer.append(Array.from({ length: 35 }, (_, i) => reading('a', i)));
    await forwarder.start();
    await waitFor('delivered', () => buffer.pendingCount === 0);
    await forwarder.stop();
    const values = transport.sent.flatMap((batches) => batches.flatMap((b) => b.messages.map((m) => JSON.parse(String(m.value)).value as number)));
    expect(values).toEqual(Array.from({ length: 35 }, (_, i) => i));
    expect(forwarder.stats.failedSends).toBe(3);
    expect(transport.connects).toBe(4);
    buffer.close();
  });

  it('sends smaller batches after the broker refused one as too large', async () => {
    const { buffer, transport, forwarder } = setup({ maxEvents: 1000, maxBytes: 200_000 });
    transport.failuresLeft = 1;
    transport.failure = Object.assign(new Error('too large'), { type: 'MESSAGE_TOO_LARGE' });
    await buffer.append(Array.from({ length: 1000 }, (_, i) => reading('a', i)));
    await forwarder.start();
    await waitFor('delivered', () => buffer.pendingCount === 0);
    await forwarder.stop();
    const sizes = transport.sent.map((batches) => batches.reduce((n, b) => n + b.messages.length, 0));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(Math.max(...sizes)).toBeLessThan(1000);
    buffer.close();
  });

  it('stops at the drain deadline with the rest still buffered', async () => {
    const { buffer, transport, forwarder } = setup({ drainDeadlineMs: 50 });
    transport.failuresLeft = 1_000_000;
    await buffer.append([reading('a', 1)]);
    await forwarder.start();
    await forwarder.stop();
    expect(buffer.pendingCount).toBe(1);
    buffer.close();
  });

  it('adaptive lingering: sends at once after a quiet spell, then groups what follows until a batch is full', async () => {
    // A linger far longer than the test: only "at once" and "full batch" can make these sends happen in time.
    const { buffer, transport, forwarder } = setup({ maxEvents: 10, lingerMs: 600_000 });
    await forwarder.start();
    await buffer.append([reading('d', 0)]);
    await waitFor('the lone event sent without lingering', () => transport.sent.length === 1, { timeoutMs: 10_000 });
    for (let i = 1; i <= 10; i++) await buffer.append([reading('d', i)]);
    await waitFor('the next ten events sent as one full batch', () => transport.sent.length === 2, { timeoutMs: 10_000 });
    expect(transport.sent[1]?.flatMap((b) => b.messages)).toHaveLength(10);
    await forwarder.stop();
    buffer.close();
  });
});

