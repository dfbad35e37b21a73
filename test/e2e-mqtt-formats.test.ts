/**
 * The five MQTT format drivers end to end: one gateway process (`node dist/cli.js run`) subscribed with every
 * driver to the private Mosquitto, real payloads published with QoS 1 (the golden case inputs, under topic
 * prefixes unique to this run), and the events read back from Kafka must be exactly the golden expectations.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { EventDraft, TelemetryEvent } from '../src/events/schema.js';
import { GatewayProcess, writeTestConfig } from './support/gateway-process.js';
import { readTopic } from './support/kafka.js';
import { parseGoldenInput, type GoldenResult } from './support/mqtt-golden.js';
import { uniqueName, waitFor } from './support/wait.js';

const CASES = resolve(import.meta.dirname, 'cases/mqtt');

interface Scenario {
  /** Golden case whose input is published and whose expected events must arrive. */
  goldenCase: string;
  /** Only the first n messages of the case (later ones need a broker-side view the gateway does not get). */
  messages?: number;
  /** The case's topic → the topic published in this run. */
  topic: (topic: string) => string;
  /** The case's device id → the one expected in this run. */
  deviceId: (id: string) => string;
}

describe('MQTT format drivers → buffer → Kafka, end to end', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const gatewayId = uniqueName('fmt');
  const prefix = `${gatewayId}.`;
  const group = `${gatewayId}-plant`;
  const benthosGroup = `${gatewayId}-factory`;
  const same = (x: string) => x;
  const scenarios: Scenario[] = [
    {
      goldenCase: 'sparkplug-b/datatypes-and-death',
      topic: (t) => t.replace('spBv1.0/Plant/', `spBv1.0/${group}/`),
      deviceId: (id) => id.replace(/^Plant\//, `${group}/`),
    },
    {
      goldenCase: 'sparkplug-b/benthos-vectors',
      topic: (t) => t.replace('spBv1.0/Factory/', `spBv1.0/${benthosGroup}/`),
      deviceId: (id) => id.replace(/^Factory\//, `${benthosGroup}/`),
    },
    { goldenCase: 'zigbee2mqtt/availability-and-names', topic: (t) => t.replace(/^zigbee2mqtt\//, `${gatewayId}-z2m/`), deviceId: same },
    { goldenCase: 'tasmota/sonoff-pow-local-time', topic: (t) => `${gatewayId}/${t}`, deviceId: same },
    { goldenCase: 'shelly-gen2/plus1pm-notify', topic: (t) => `${gatewayId}-shelly/${t}`, deviceId: same },
    // Config, then the state it makes the gateway subscribe to (the deletion that follows is covered by the golden case).
    { goldenCase: 'homeassistant-discovery/doc-device-discovery', messages: 2, topic: (t) => t.replace(/^homeassistant\//, `${gatewayId}-ha/`), deviceId: same },
  ];
  let gateway: GatewayProcess;
  let publisher: MqttClient;

  beforeAll(async () => {
    const { file } = writeTestConfig({
      gatewayId,
      brokers: [kafka],
      mqttUrl,
      topicPrefix: prefix,
      subscriptions: [
        { driver: 'sparkplug-b', topics: [`spBv1.0/${group}/#`, `spBv1.0/${benthosGroup}/#`, 'spBv1.0/STATE/#'] },
        { driver: 'zigbee2mqtt', topic: `${gatewayId}-z2m/#` },
        { driver: 'tasmota', topics: [`${gatewayId}/tele/+/SENSOR`], options: { timeZone: 'Europe/Berlin' } },
        { driver: 'shelly-gen2', topics: [`${gatewayId}-shelly/+/events/rpc`, `${gatewayId}-shelly/+/online`] },
        { driver: 'homeassistant-discovery', topic: `${gatewayId}-ha/#` },
      ],
    });
    gateway = new GatewayProcess(file);
    await gateway.ready();
    publisher = await mqtt.connectAsync(mqttUrl, { clientId: `${gatewayId}-pub`, clean: true, connectTimeout: 5000 });
  });

  afterAll(async () => {
    await publisher?.endAsync(true);
    expect(await gateway?.stop()).toBe(0);
  });

  it('delivers the golden events of every format to Kafka', async () => {
    const expected: EventDraft[] = [];
    for (const scenario of scenarios) {
      const dir = join(CASES, scenario.goldenCase);
      const messages = parseGoldenInput(readFileSync(join(dir, 'input'), 'utf8')).slice(0, scenario.messages);
      const results = (JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as GoldenResult[]).slice(0, scenario.messages);
      for (const [i, { topic, payload }] of messages.entries()) {
        // One at a time, in order: the decoders are stateful (births, merges, transitions).
        await publisher.publishAsync(scenario.topic(topic), payload, { qos: 1 });
        for (const subscribed of results[i]?.subscribe ?? []) {
          // A discovered state topic is only delivered once the gateway's subscription is in place.
          await waitFor(`gateway subscribed to ${subscribed}`, () => gateway.logs.some((l) => l.msg === 'mqtt subscribed to a discovered topic' && l.topic === subscribed));
        }
      }
      for (const r of results) expected.push(...r.events.map((e) => ({ ...e, deviceId: scenario.deviceId(e.deviceId) })));
    }

    const byFamily = (types: string[]) => expected.filter((e) => types.includes(e.type));
    // At least once: a batch retried after a partial failure (e.g. a partition leader moving while the gateway
    // creates its topics) is sent again with the same event ids. Count and compare distinct events.
    const read = async (topic: string, count: number): Promise<TelemetryEvent[]> => {
      let want = count;
      for (;;) {
        const events = (await readTopic(kafka, `${prefix}${topic}`, want, 90_000)).map((r) => JSON.parse(r.value) as TelemetryEvent);
        const distinct = [...new Map(events.map((e) => [e.id, e])).values()];
        if (distinct.length >= count) return distinct;
        want = count + (events.length - distinct.length);
      }
    };
    const readings = await read('readings', byFamily(['reading', 'gap']).length);
    const statuses = await read('device-status', byFamily(['device-status']).length);
    const deadLetters = await read('deadletter', byFamily(['dead-letter']).length);

    // The fields decided by the decoders (receivedAt and the gap's time range are the gateway's clock).
    const essence = (e: EventDraft | TelemetryEvent): string => {
      switch (e.type) {
        case 'reading':
          return JSON.stringify([e.type, e.deviceId, e.metric, e.value, e.unit, e.quality, e.sourceTime]);
        case 'gap':
          return JSON.stringify([e.type, e.deviceId, e.reason, e.count]);
        case 'device-status':
          return JSON.stringify([e.type, e.deviceId, e.previous, e.status, e.reason, e.sourceTime]);
        case 'dead-letter':
          return JSON.stringify([e.type, e.deviceId.replace(/^mqtt:golden$/, 'mqtt:site'), e.reason, e.payloadBase64]);
        default:
          return JSON.stringify([e.type, e.deviceId]);
      }
    };
    const sorted = (events: (EventDraft | TelemetryEvent)[]) => events.map(essence).sort();
    expect(sorted(readings)).toEqual(sorted(byFamily(['reading', 'gap'])));
    expect(sorted(statuses)).toEqual(sorted(byFamily(['device-status'])));
    expect(sorted(deadLetters)).toEqual(sorted(byFamily(['dead-letter'])));

    // Per device and topic, Kafka holds the events in the order the decoders produced them (seq 0, 1, 2, …).
    for (const events of [readings, statuses]) {
      const seqs = new Map<string, number[]>();
      for (const e of events) seqs.set(e.deviceId, [...(seqs.get(e.deviceId) ?? []), e.seq]);
      for (const [device, list] of seqs) expect(list, device).toEqual(list.map((_, i) => i));
    }
    const gap = readings.find((e) => e.type === 'gap');
    expect(gap).toMatchObject({ type: 'gap', deviceId: `${benthosGroup}/Line1`, count: 3, schemaVersion: 2 });
    expect(readings.filter((e) => e.type === 'reading' && e.metric === 'UInt64 max').map((e) => e.type === 'reading' && e.value)).toEqual(['18446744073709551615']);
  });
});
