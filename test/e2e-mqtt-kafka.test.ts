import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KAFKA_CLIENTS } from './support/kafka-clients.js';
import { readDistinctRecords, readTopicWithKcat } from './support/kafka.js';
import { MqttGateway } from './support/mqtt-gateway.js';
import type { ReadingEvent } from '../src/events/schema.js';

const MESSAGES = 10_000;
const DEVICES = 10;

describe.each(KAFKA_CLIENTS)('MQTT → buffer → Kafka, end to end with real brokers (%s client)', (client) => {
  let gw: MqttGateway;

  beforeAll(async () => {
    gw = await MqttGateway.start({ name: `e2e-${client}`, client });
  });

  afterAll(async () => {
    expect(await gw?.close()).toBe(0);
  });

  it(`delivers ${MESSAGES} QoS 1 messages from ${DEVICES} devices as ${MESSAGES * 2} readings, each at least once`, async () => {
    await gw.publisher.publishMany(gw.sensors, 0, MESSAGES, DEVICES);
    expect(gw.publisher.acked.size).toBe(MESSAGES);

    const topic = gw.topic('readings');
    // At least once: the same event may be on the topic twice (a re-sent batch), never a second event per message.
    const { records } = await readDistinctRecords(gw.kafka, topic, MESSAGES * 2, 120_000);
    const events = [...new Map(records.map((r) => JSON.parse(r.value) as ReadingEvent).map((e) => [e.id, e])).values()];
    const ids = new Set(events.map((e) => e.id));
    expect(ids.size).toBe(MESSAGES * 2);

    // Every message number arrives exactly once as a temperature reading, with its humidity scaled by 0.1.
    const temperatures = events.filter((e) => e.metric === 'temperature');
    expect(new Set(temperatures.map((e) => e.value)).size).toBe(MESSAGES);
    for (const e of temperatures) {
      expect(e.unit).toBe('Cel');
      expect(e.quality).toBe('good');
      expect(e.deviceId).toBe(`dev-${(e.value as number) % DEVICES}`);
      expect(e.sourceTime).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(e.gatewayId).toBe(gw.gatewayId);
      expect(e.schemaVersion).toBe(2);
    }
    const humidities = events.filter((e) => e.metric === 'humidity');
    expect(humidities).toHaveLength(MESSAGES);
    for (const e of humidities) expect(e.unit).toBe('%');
    expect(new Set(humidities.map((e) => e.value))).toEqual(new Set(Array.from({ length: 200 }, (_, i) => Number(((400 + i) * 0.1).toPrecision(12)))));

    // Key = deviceId; per device the seq runs 0,1,2,… in the order Kafka holds the records of its partition
    // (a re-sent batch repeats records already there: their first copies are in order).
    const byDevice = new Map<string, number[]>();
    const first = new Set<string>();
    for (const r of records) {
      const e = JSON.parse(r.value) as ReadingEvent;
      if (first.has(e.id)) continue;
      first.add(e.id);
      expect(r.key).toBe(e.deviceId);
      expect(r.headers.ce_id).toBe(e.id);
      expect(r.headers.ce_specversion).toBe('1.0');
      expect(r.headers.ce_type).toBe('io.edge-telemetry-gateway.reading.v1');
      expect(r.headers.ce_subject).toBe(e.deviceId);
      expect(r.headers['content-type']).toBe('application/json');
      const seqs = byDevice.get(e.deviceId) ?? [];
      seqs.push(e.seq);
      byDevice.set(e.deviceId, seqs);
    }
    expect(byDevice.size).toBe(DEVICES);
    for (const seqs of byDevice.values()) {
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
    }

    // The same records read back with a third-party client.
    const viaKcat = await readTopicWithKcat(gw.kafka, topic);
    expect(viaKcat).toHaveLength(records.length);
    expect(new Set(viaKcat.map((r) => (JSON.parse(r.value) as ReadingEvent).id))).toEqual(ids);
    for (const r of viaKcat) expect(r.key).toBe((JSON.parse(r.value) as ReadingEvent).deviceId);
  });
});
