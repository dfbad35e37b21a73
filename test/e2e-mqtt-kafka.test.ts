import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KAFKA_CLIENTS } from './support/kafka-clients.js';
import { GatewayProcess, writeTestConfig } from './support/gateway-process.js';
import { readTopic, readTopicWithKcat } from './support/kafka.js';
import { SensorPublisher } from './support/publisher.js';
import { uniqueName } from './support/wait.js';
import type { ReadingEvent } from '../src/events/schema.js';

const MESSAGES = 10_000;
const DEVICES = 10;

describe.each(KAFKA_CLIENTS)('MQTT → buffer → Kafka, end to end with real brokers (%s client)', (client) => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const gatewayId = uniqueName(`e2e-${client}`);
  const prefix = `${gatewayId}.`;
  let gateway: GatewayProcess;
  let publisher: SensorPublisher;

  beforeAll(async () => {
    const { file } = writeTestConfig({ gatewayId, brokers: [kafka], mqttUrl, topicPrefix: prefix, client });
    gateway = new GatewayProcess(file);
    await gateway.started();
    await gateway.waitForLog('mqtt subscribed');
    publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
  });

  afterAll(async () => {
    await publisher?.close();
    expect(await gateway?.stop()).toBe(0);
  });

  it(`delivers ${MESSAGES} QoS 1 messages from ${DEVICES} devices as exactly ${MESSAGES * 2} readings`, async () => {
    await publisher.publishMany(`${gatewayId}/sensors`, 0, MESSAGES, DEVICES);
    expect(publisher.acked.size).toBe(MESSAGES);

    const topic = `${prefix}readings`;
    const records = await readTopic(kafka, topic, MESSAGES * 2, 120_000);
    expect(records).toHaveLength(MESSAGES * 2);

    const events = records.map((r) => JSON.parse(r.value) as ReadingEvent);
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
      expect(e.gatewayId).toBe(gatewayId);
      expect(e.schemaVersion).toBe(2);
    }
    const humidities = events.filter((e) => e.metric === 'humidity');
    expect(humidities).toHaveLength(MESSAGES);
    for (const e of humidities) expect(e.unit).toBe('%');
    expect(new Set(humidities.map((e) => e.value))).toEqual(new Set(Array.from({ length: 200 }, (_, i) => Number(((400 + i) * 0.1).toPrecision(12)))));

    // Key = deviceId; per device the seq runs 0,1,2,… in the order Kafka holds the records of its partition.
    const byDevice = new Map<string, number[]>();
    for (const r of records) {
      const e = JSON.parse(r.value) as ReadingEvent;
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
    const viaKcat = await readTopicWithKcat(kafka, topic);
    expect(viaKcat).toHaveLength(MESSAGES * 2);
    expect(new Set(viaKcat.map((r) => (JSON.parse(r.value) as ReadingEvent).id))).toEqual(ids);
    for (const r of viaKcat) expect(r.key).toBe((JSON.parse(r.value) as ReadingEvent).deviceId);
  });
});
