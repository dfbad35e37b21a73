// The README's first command, run for a few seconds against the suite's brokers: devices → MQTT → gateway → Kafka,
// read back and printed.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { readTopicWithKcat, topicSize } from './support/kafka.js';

const run = promisify(execFile);

describe('npm run demo', () => {
  it('shows readings that went through the gateway and came back from Kafka, then stops what it started', async () => {
    const kafkaPort = inject('kafkaBootstrap').split(':')[1] ?? '';
    const mqttPort = new URL(inject('mqttUrl')).port;
    const { stdout } = await run(process.execPath, [resolve(import.meta.dirname, '../scripts/demo.mjs'), '--seconds', '12', '--kafka-port', kafkaPort, '--mqtt-port', mqttPort], {
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stdout).toContain('(already running)');
    const summary = /demo ran \d+s: (\d+) readings reached Kafka/.exec(stdout);
    expect(Number(summary?.[1])).toBeGreaterThan(0);
    expect(stdout).toMatch(/demo\.telemetry\.readings\s+\d+ total/);
    expect(stdout).toMatch(/demo\.telemetry\.readings\s+\d+ total\s+\d+\/s\s+\S+ [a-z-]+=\S+/);
    // The MQTT format simulators (scripts/demo-extras.mjs): every ecosystem's devices reached Kafka, none dead-lettered.
    expect(stdout).toMatch(/mqtt {6}mqtt sparkplug-b: 1 device\(s\)/);
    const kafka = inject('kafkaBootstrap');
    const devices = new Set((await readTopicWithKcat(kafka, 'demo.telemetry.readings')).map((r) => (JSON.parse(r.value) as { deviceId: string }).deviceId));
    for (const device of ['living_room_sensor', 'sonoff_pow_kitchen', 'shellyplus1pm-a8032ab1c2d4', 'demo-sparkplug-b/Edge1/Pump1', 'garden_weather']) expect(devices, device).toContain(device);
    const deadLetters = (await topicSize(kafka, 'demo.telemetry.deadletter')) > 0 ? await readTopicWithKcat(kafka, 'demo.telemetry.deadletter') : [];
    expect(deadLetters.map((r) => JSON.parse(r.value) as { input: string; reason: string }).filter((d) => d.input === 'demo-formats')).toEqual([]);
  });
});
