import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DeadLetterEvent, ReadingEvent } from '../src/events/schema.js';
import { CLI, writeTestConfig } from './support/gateway-process.js';
import { MqttGateway } from './support/mqtt-gateway.js';
import { readTopic } from './support/kafka.js';

const run = promisify(execFile);

describe('bad input never stops the gateway', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  let gw: MqttGateway;

  beforeAll(async () => {
    // Its own publisher below: raw payloads, not the sensor messages.
    gw = await MqttGateway.start({ name: 'bad', publisher: false });
  });

  afterAll(async () => {
    expect(await gw?.close()).toBe(0);
  });

  it('turns malformed JSON, wrong types and a 1 MB payload into dead letters with reasons, and goes on', async () => {
    const client = await mqtt.connectAsync(mqttUrl, { clientId: `${gw.gatewayId}-pub` });
    const base = gw.sensors;
    await client.publishAsync(`${base}/broken`, '{"temperature": 21.5,', { qos: 1 });
    await client.publishAsync(`${base}/typo`, JSON.stringify({ temperature: 'hot', humidity: 455 }), { qos: 1 });
    await client.publishAsync(`${base}/huge`, Buffer.alloc(1024 * 1024, 0x41), { qos: 1 });
    await client.publishAsync(`${base}/empty`, JSON.stringify({ battery: 97 }), { qos: 1 });
    await client.publishAsync(`${base}/good`, JSON.stringify({ temperature: 22.25, humidity: 512 }), { qos: 1 });
    await client.endAsync();

    const dead = (await readTopic(kafka, gw.topic('deadletter'), 4)).map((r) => JSON.parse(r.value) as DeadLetterEvent);
    const byDevice = new Map(dead.map((d) => [d.deviceId, d]));
    expect(byDevice.get('broken')?.reason).toMatch(/^invalid JSON/);
    expect(Buffer.from(byDevice.get('broken')?.payloadBase64 ?? '', 'base64').toString()).toBe('{"temperature": 21.5,');
    expect(byDevice.get('typo')?.reason).toBe('temperature: expected a number, got the string "hot"');
    expect(byDevice.get('huge')?.reason).toBe('payload of 1048576 bytes exceeds maxPayloadBytes 262144');
    expect(byDevice.get('huge')).toMatchObject({ payloadBytes: 1048576, truncated: true, source: `${base}/huge`, input: 'site' });
    expect(byDevice.get('empty')?.reason).toBe('none of the mapped fields is in the payload');

    // The good field of a partly bad message and the next good message both arrive.
    const readings = (await readTopic(kafka, gw.topic('readings'), 3)).map((r) => JSON.parse(r.value) as ReadingEvent);
    expect(readings.map((r) => [r.deviceId, r.metric, r.value]).sort()).toEqual([
      ['good', 'humidity', 51.2],
      ['good', 'temperature', 22.25],
      ['typo', 'humidity', 45.5],
    ]);
    expect(gw.gateway.child.exitCode).toBeNull();
  });

  it('rejects a bad config with a non-zero exit and a message naming the path', async () => {
    const { dir } = writeTestConfig({ gatewayId: 'x', brokers: [kafka], mqttUrl, topicPrefix: 'x.' });
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'gateway: { id: gw }\nkafka: { brokers: ["no-port"] }\nbuffer: { synchronous: SOMETIMES }\n');
    for (const command of ['run', 'check-config']) {
      const result = await run(process.execPath, [CLI, command, '--config', file]).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('GW_CONFIG_INVALID');
      expect(result.stderr).toContain('kafka.brokers[0]: expected host:port');
      expect(result.stderr).toContain('buffer.synchronous: expected FULL or NORMAL, got "SOMETIMES"');
    }
  });
});
