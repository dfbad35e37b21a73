// The MQTT input acknowledges a QoS 1 message only after its events are committed, and many messages share one
// commit. Proven against the real broker: while commits are held back, a crash (dropped connection) leaves every
// message unacknowledged and the broker redelivers all of them to the resumed session.
import mqtt from 'mqtt';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { MqttInputConfig } from '../src/config/schema.js';
import type { EventDraft } from '../src/events/schema.js';
import type { IngestSink } from '../src/inputs/input.js';
import { MqttInput } from '../src/inputs/mqtt/mqtt-input.js';
import { systemClock } from '../src/util/clock.js';
import { createLogger } from '../src/util/logger.js';
import { uniqueName, waitFor } from './support/wait.js';
import { noReceipts } from './support/receipts.js';

/** A sink whose commits complete only when the test says so (the seam the buffer normally fills). */
class GatedSink implements IngestSink {
  readonly groups: { drafts: EventDraft[]; resolve: () => void }[] = [];
  #open = false;
  #queued: { drafts: EventDraft[]; resolve: () => void }[] = [];

  append(drafts: readonly EventDraft[]): Promise<void> {
    return new Promise((resolve) => {
      const group = { drafts: [...drafts], resolve };
      this.groups.push(group);
      if (this.#open) resolve();
      else this.#queued.push(group);
    });
  }

  flush(): void {}

  open(): void {
    this.#open = true;
    for (const g of this.#queued.splice(0)) g.resolve();
  }

  get received(): number {
    return this.groups.length;
  }
}

describe('MQTT input: PUBACK after commit', () => {
  const url = inject('mqttUrl');
  const stops: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop().catch(() => undefined);
  });

  function input(name: string, topic: string, sink: IngestSink): MqttInput {
    const config = MqttInputConfig.parse({
      type: 'mqtt',
      name,
      url,
      clientId: name,
      reconnect: { initial: 100, max: 500 },
      // This sink keeps no receipts: every redelivery here is of a message that was never committed.
      recognizeResends: false,
      subscriptions: [{ topic: `${topic}/+`, deviceId: '{1}', format: 'number', metrics: [{ metric: 'n' }] }],
    });
    return new MqttInput(config, { configDir: '.', driverSearchPaths: [], gatewayId: 'gw', sink, receipts: noReceipts, logger: createLogger('silent'), clock: systemClock });
  }

  it('holds PUBACKs until the commit, keeps reading meanwhile, and the broker redelivers what was never committed', async () => {
    const name = uniqueName('puback');
    const sink = new GatedSink();
    const first = input(name, name, sink);
    await first.start();
    await waitFor('input connected', () => first.stats.connected);

    const publisher = await mqtt.connectAsync(url, { clientId: `${name}-pub` });
    stops.push(() => publisher.endAsync());
    for (let i = 0; i < 50; i++) await publisher.publishAsync(`${name}/dev`, String(i), { qos: 1 });

    // All 50 reached the input although none was committed: reading does not wait for commits ...
    await waitFor('50 messages handed to the sink', () => sink.received === 50);
    expect(first.stats.heldAcks).toBe(50);

    // ... and none was acknowledged: drop the connection the way a crash does, resume the session elsewhere.
    await first.abort();
    const redelivered = new GatedSink();
    redelivered.open();
    const second = input(name, name, redelivered);
    stops.push(() => second.stop());
    await second.start();
    await waitFor('all 50 redelivered', () => redelivered.received === 50);
    expect(redelivered.groups.map((g) => (g.drafts[0] as { value: number }).value)).toEqual(Array.from({ length: 50 }, (_, i) => i));

    // Committed messages are acknowledged: a third session of the same client gets nothing more.
    await second.stop();
    stops.pop();
    const third = new GatedSink();
    third.open();
    const last = input(name, name, third);
    stops.push(() => last.stop());
    await last.start();
    await waitFor('third session connected', () => last.stats.connected);
    await publisher.publishAsync(`${name}/dev`, '999', { qos: 1 });
    await waitFor('the fresh message', () => third.received === 1);
    expect((third.groups[0]?.drafts[0] as { value: number }).value).toBe(999);
  });
});

