/**
 * The MQTT publisher simulator (`telemetry-gateway simulate --driver <format>`, src/simulators/mqtt.ts): every
 * registered format's simulation decodes through the real decoder without a dead letter (pure), the five of them
 * published to the real Mosquitto arrive in Kafka through a gateway exactly as the decoders read them, and the
 * command line publishes, prints the subscription to use and refuses options that are not its own.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import type { EventDraft, TelemetryEvent } from '../src/events/schema.js';
import { loadMqttDriver } from '../src/inputs/mqtt/drivers.js';
import { formatOf, MQTT_FORMAT_NAMES, type MqttFormatName } from '../src/inputs/mqtt/formats/registry.js';
import { MqttSubscription } from '../src/inputs/mqtt/config.js';
import { compileRoutes, routeMessage } from '../src/inputs/mqtt/router.js';
import { prng } from '../src/simulators/random.js';
import { startMqttSimulator, type MqttSimulator } from '../src/simulators/mqtt.js';
import { CLI } from './support/gateway-process.js';
import { readDistinctRecords, readTopicWithKcat, topicSize } from './support/kafka.js';
import { MqttGateway } from './support/mqtt-gateway.js';
import { uniqueName, waitFor } from './support/wait.js';

const run = promisify(execFile);
const context = { configDir: SHIPPED_DRIVERS_DIR, driverSearchPaths: [SHIPPED_DRIVERS_DIR] };
const ROUNDS = 3;
const SEED = 42;

/** Device ids the decoder gives a format's simulated devices (Sparkplug: the node and its device). */
function expectedDevices(format: MqttFormatName, devices: readonly string[], base: string): string[] {
  return format === 'sparkplug-b' ? devices.flatMap((d) => [`${base}/${d}`, `${base}/${d}/Pump1`]) : [...devices];
}

/** What the decoders make of one simulation run (start, ROUNDS rounds, stop), without a broker. */
function decodeSimulation(format: MqttFormatName, base: string): EventDraft[] {
  const { driver } = loadMqttDriver(format, context);
  const simulation = formatOf(driver).simulation;
  const sim = simulation.create(driver, { devices: simulation.defaultDevices, base, random: prng(SEED) });
  const routes = compileRoutes([MqttSubscription.parse({ driver: format, ...simulation.subscription(base) })], context);
  const ctx = { inputName: 'sim', receivedAt: '2026-11-27T10:00:00.000Z', maxPayloadBytes: 262_144, deadLetterBytes: 256 };
  const at = Date.parse('2026-11-27T10:00:00Z');
  const messages = [...sim.start(at), ...Array.from({ length: ROUNDS }, (_, i) => sim.round(at + (i + 1) * 1000)).flat(), ...sim.stop(at + 10_000)];
  return messages.flatMap((m) => routeMessage(routes, m.topic, Buffer.from(m.payload), ctx).drafts);
}

/** The fields the simulation decides (not the gateway's clock, not the device clock, which is "now"). */
const essence = (e: EventDraft | TelemetryEvent): string =>
  e.type === 'reading' ? JSON.stringify([e.deviceId, e.metric, e.value, e.unit, e.quality]) : e.type === 'device-status' ? JSON.stringify([e.deviceId, e.previous, e.status]) : JSON.stringify([e.type, e.deviceId]);

describe('every format\'s simulation, decoded by the real decoder (pure)', () => {
  it.each(MQTT_FORMAT_NAMES)('%s: readings of every simulated device, no dead letter, availability on and off', (format) => {
    const { driver } = loadMqttDriver(format, context);
    const simulation = formatOf(driver).simulation;
    const base = simulation.defaultBase;
    const drafts = decodeSimulation(format, base);
    expect(drafts.filter((d) => d.type === 'dead-letter' || d.type === 'gap')).toEqual([]);
    const withReadings = new Set(drafts.filter((d) => d.type === 'reading').map((d) => d.deviceId));
    expect([...withReadings].sort()).toEqual(expectedDevices(format, simulation.defaultDevices, base).sort());
    // Values change from round to round (a simulation is not a constant).
    const values = new Set(drafts.filter((d) => d.type === 'reading' && typeof d.value === 'number').map((d) => `${d.deviceId} ${d.type === 'reading' ? `${d.metric}=${String(d.value)}` : ''}`));
    expect(values.size).toBeGreaterThan(withReadings.size * 2);
    const transitions = drafts.filter((d) => d.type === 'device-status').map((d) => (d.type === 'device-status' ? `${d.deviceId} ${d.status}` : ''));
    if (format === 'homeassistant-discovery') expect(transitions).toEqual([]); // discovery has no availability here
    else for (const id of expectedDevices(format, simulation.defaultDevices, base)) expect(transitions.filter((t) => t.startsWith(`${id} `)), id).toEqual([`${id} online`, `${id} offline`]);
    // A simulation is deterministic for a seed.
    expect(decodeSimulation(format, base).map(essence)).toEqual(drafts.map(essence));
  });
});

describe('the five simulators → Mosquitto → gateway → Kafka', () => {
  const mqttUrl = inject('mqttUrl');
  const runId = uniqueName('sim');
  const bases: Record<MqttFormatName, string> = {
    'sparkplug-b': `${runId}-plant`,
    zigbee2mqtt: `${runId}-z2m`,
    tasmota: `${runId}-tasmota`,
    'shelly-gen2': `${runId}-shelly`,
    'homeassistant-discovery': `${runId}-ha`,
  };
  const simulators: MqttSimulator[] = [];
  let gw: MqttGateway | undefined;
  afterAll(async () => {
    for (const sim of simulators) await sim.stop().catch(() => undefined);
    await gw?.kill();
  });

  it('delivers exactly what the decoders make of the simulated devices, read with ours and with kcat', { timeout: 240_000 }, async () => {
    const subscriptions = MQTT_FORMAT_NAMES.map((format) => {
      const { driver } = loadMqttDriver(format, context);
      return { driver: format, ...formatOf(driver).simulation.subscription(bases[format]) };
    });
    gw = await MqttGateway.start({ name: 'sim', subscriptions, publisher: false });
    // Subscribed first: births and full states published before a new session's SUBACK would be lost.
    for (const format of MQTT_FORMAT_NAMES) {
      simulators.push(await startMqttSimulator({ driver: format, configDir: SHIPPED_DRIVERS_DIR, mqttUrl, base: bases[format], intervalMs: 0, seed: SEED }));
    }
    // Home Assistant state topics are subscribed once their configs are seen: rounds go out after that.
    const gateway = gw.gateway;
    await waitFor('the discovered state topics subscribed', () => gateway.logs.filter((l) => l.msg === 'mqtt subscribed to a discovered topic').length >= 3);
    for (let i = 0; i < ROUNDS; i++) for (const sim of simulators) await sim.round();
    for (const sim of simulators.splice(0)) await sim.stop();

    const expected = MQTT_FORMAT_NAMES.flatMap((format) => decodeSimulation(format, bases[format]));
    const count = (type: string) => expected.filter((e) => e.type === type).length;
    const read = async (family: 'readings' | 'device-status') =>
      (await readDistinctRecords(gw?.kafka ?? '', gw?.topic(family) ?? '', count(family === 'readings' ? 'reading' : 'device-status'))).distinct.map((r) => JSON.parse(r.value) as TelemetryEvent);
    const readings = await read('readings');
    const statuses = await read('device-status');
    const sorted = (events: (EventDraft | TelemetryEvent)[]) => events.map(essence).sort();
    expect(sorted(readings)).toEqual(sorted(expected.filter((e) => e.type === 'reading')));
    expect(sorted(statuses)).toEqual(sorted(expected.filter((e) => e.type === 'device-status')));
    expect(await topicSize(gw.kafka, gw.topic('deadletter'))).toBe(0);
    // The same readings through a third-party client.
    const viaKcat = (await readTopicWithKcat(gw.kafka, gw.topic('readings'))).map((r) => JSON.parse(r.value) as TelemetryEvent);
    expect(new Set(viaKcat.map((e) => e.id))).toEqual(new Set(readings.map((e) => e.id)));
    expect(await gw.close()).toBe(0);
  });
});

describe('simulate --driver <mqtt format> on the command line', () => {
  const mqttUrl = inject('mqttUrl');

  it('publishes the format\'s payloads, prints the subscription to use, and publishes offline on Ctrl-C', { timeout: 60_000 }, async () => {
    const base = uniqueName('cli-z2m');
    const watcher = await mqtt.connectAsync(mqttUrl, { clientId: `${base}-watch` });
    const seen: { topic: string; payload: string }[] = [];
    watcher.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
    await watcher.subscribeAsync(`${base}/#`, { qos: 1 });
    const child = spawn(process.execPath, [CLI, 'simulate', '--driver', 'zigbee2mqtt', '--mqtt-url', mqttUrl, '--base', base, '--device-id', 'porch', '--interval', '200ms'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitFor('the simulator started', () => stdout.includes('Ctrl-C stops the simulator.'), { timeoutMs: 30_000 });
      await waitFor('three state messages of the simulated device', () => seen.filter((m) => m.topic === `${base}/porch`).length >= 3, { timeoutMs: 30_000 });
      expect(stdout).toContain(`gateway subscription: {"driver":"zigbee2mqtt","topic":"${base}/#"}`);
      const state = JSON.parse(seen.find((m) => m.topic === `${base}/porch`)?.payload ?? '{}') as Record<string, unknown>;
      expect(state).toMatchObject({ temperature: expect.any(Number), humidity: expect.any(Number), battery: expect.any(Number), linkquality: expect.any(Number) });
      expect(seen.find((m) => m.topic === `${base}/porch/availability`)?.payload).toBe('{"state":"online"}');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      await waitFor('offline availability', () => seen.some((m) => m.topic === `${base}/porch/availability` && m.payload === '{"state":"offline"}'));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await watcher.endAsync();
    }
  });

  it.each([
    [['--driver', 'zigbee2mqtt', '--port', '5020'], '--port: not an option of the mqtt simulator (it takes --mqtt-url, --device-id, --base, --interval)'],
    [['--driver', 'xy-md02', '--mqtt-url', 'mqtt://127.0.0.1:1883'], '--mqtt-url: not an option of the modbus simulator'],
    [['--driver', 'pulse-oximeter-ascii', '--device-id', 'x'], '--device-id: not an option of the serial simulator'],
    [['--driver', 'tasmota', '--interval', 'often'], '--interval: expected a duration of at least 100ms'],
  ])('refuses %j', async (args, message) => {
    const failed = await run(process.execPath, [CLI, 'simulate', ...args]).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(64);
    expect(failed?.stderr).toContain(`GW_USAGE: ${message}`);
  });

  it('says which broker it cannot reach', async () => {
    const failed = await run(process.execPath, [CLI, 'simulate', '--driver', 'tasmota', '--mqtt-url', 'mqtt://127.0.0.1:9']).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/GW_MQTT_CONNECT: the tasmota simulator cannot connect to mqtt:\/\/127\.0\.0\.1:9/);
  });
});
