/**
 * Serial end to end: two simulated pulse oximeters on pseudo-terminals (binary Data Format 2 at its real 75
 * frames a second, with garbage and bad checksums injected; ASCII 1 at one record a second) → the gateway as
 * users run it (`node dist/cli.js run`) → SQLite buffer → real Kafka, read back with kafkajs. A scripted
 * desaturation comes out as readings and alarm transitions; unplugging the binary one gives offline, replugging
 * online again, without a restart.
 */
import { afterAll, beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';
import type { AlarmEvent, DeadLetterEvent, DeviceStatusEvent, ReadingEvent } from '../src/events/schema.js';
import { SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import { startSerialSimulator, type SerialSimulator, type SimulatedValues } from '../src/simulators/serial.js';
import { GatewayProcess, writeTestConfig } from './support/gateway-process.js';
import { readDistinctEvents } from './support/kafka.js';
import { uniqueName, waitFor } from './support/wait.js';

const EPISODE: SimulatedValues[] = [
  { spo2: 97, hr: 74, alarm: 0 },
  { spo2: 91, hr: 88, alarm: 0 },
  { spo2: 86, hr: 104, alarm: 0x02 },
  { spo2: 83, hr: 112, alarm: 0x02 },
  { spo2: 92, hr: 90, alarm: 0 },
];

describe('serial → gateway process → buffer → Kafka, end to end through pseudo-terminals', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const gatewayId = uniqueName('e2e-serial');
  const prefix = `${gatewayId}.`;
  let gateway: GatewayProcess;
  let ascii: SerialSimulator;
  let binary: SerialSimulator;

  beforeAll(async () => {
    ascii = await startSerialSimulator({ driver: 'pulse-oximeter-ascii', configDir: SHIPPED_DRIVERS_DIR });
    binary = await startSerialSimulator({ driver: 'pulse-oximeter-df2', configDir: SHIPPED_DRIVERS_DIR, faults: ['garbage', 'bad-checksum'] });
    const serialInput = (name: string, port: string, driver: string, deviceId: string): Record<string, unknown> => ({
      type: 'serial',
      name,
      port,
      driver,
      deviceId,
      timezone: 'UTC',
      reopen: { initial: '200ms', max: '1s' },
    });
    const { file } = writeTestConfig({
      gatewayId,
      brokers: [kafka],
      mqttUrl,
      topicPrefix: prefix,
      overrides: {
        inputs: [
          serialInput('bed-1-ascii', ascii.path, 'pulse-oximeter-ascii', 'bed-1-oximeter'),
          serialInput('bed-2-df2', binary.path, 'pulse-oximeter-df2', 'bed-2-oximeter'),
        ],
      },
    });
    gateway = new GatewayProcess(file);
    await gateway.started();
    await waitFor('both serial ports open', async () => (await gateway.metrics()).filter((m) => m.name === 'etg_serial_port_open' && m.value === 1).length === 2);
  });

  afterAll(async () => {
    expect(await gateway?.stop()).toBe(0);
    await ascii?.stop();
    await binary?.stop();
  });

  it('delivers a scripted desaturation as readings and alarms, binary readings with dead letters, and unplug/replug as status', async () => {
    onTestFailed(() => {
      // What the gateway saw, for a failure on a loaded machine: its serial and warning log lines.
      const lines = gateway.logs.filter((l) => l.level >= 40 || /serial/.test(l.msg)).slice(-40);
      console.error(lines.map((l) => JSON.stringify(l)).join('\n'));
    });
    // Both devices online before the episode starts.
    const online = await readDistinctEvents<DeviceStatusEvent>(kafka, `${prefix}device-status`, 2);
    expect(online.map((e) => `${e.deviceId} ${e.status}`).sort()).toEqual(['bed-1-oximeter online', 'bed-2-oximeter online']);
    await ascii.play(EPISODE);

    // Unplug the binary oximeter while the episode plays, then plug it back in.
    await binary.unplug();
    await readDistinctEvents<DeviceStatusEvent>(kafka, `${prefix}device-status`, 3, 30_000);
    await binary.replug();
    const statuses = (await readDistinctEvents<DeviceStatusEvent>(kafka, `${prefix}device-status`, 4, 30_000)).sort((a, b) => a.seq - b.seq);
    const bed2 = statuses.filter((e) => e.deviceId === 'bed-2-oximeter').map((e) => `${e.previous}→${e.status}`);
    expect(bed2).toEqual(['unknown→online', 'online→offline', 'offline→online']);
    expect(statuses.filter((e) => e.deviceId === 'bed-1-oximeter').map((e) => e.status)).toEqual(['online']);
    expect(statuses.find((e) => e.status === 'offline')?.reason).toContain('disappeared');

    // The episode, in order, with its IEEE 11073 codes; device time from the record.
    const readings = await waitFor('the whole episode in Kafka', async () => {
      const all = await readDistinctEvents<ReadingEvent>(kafka, `${prefix}readings`, 1);
      return all.some((e) => e.deviceId === 'bed-1-oximeter' && e.metric === 'spo2' && e.value === 92) ? all : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1000 });
    const bed1 = readings.filter((e) => e.deviceId === 'bed-1-oximeter').sort((a, b) => a.seq - b.seq);
    const spo2 = bed1.filter((e) => e.metric === 'spo2');
    const start = spo2.findIndex((e) => e.value === 91) - 1;
    expect(spo2.slice(start, start + EPISODE.length).map((e) => e.value)).toEqual(EPISODE.map((e) => e.spo2));
    for (const e of spo2) expect(e).toMatchObject({ unit: '%', code: 'MDC_PULS_OXIM_SAT_O2', quality: 'good', sourceTime: expect.stringMatching(/Z$/) });
    expect(bed1.filter((e) => e.metric === 'pulse-rate').slice(start, start + EPISODE.length).map((e) => e.value)).toEqual(EPISODE.map((e) => e.hr));
    expect(bed1.map((e) => e.seq)).toEqual(bed1.map((_, i) => i));

    const alarms = (await readDistinctEvents<AlarmEvent>(kafka, `${prefix}alarms`, 2, 30_000)).filter((a) => a.deviceId === 'bed-1-oximeter').sort((a, b) => a.seq - b.seq);
    expect(alarms.map((a) => `${a.deviceId} ${a.alarm} ${a.state} ${a.severity} ${String(a.value)}`)).toEqual([
      'bed-1-oximeter spo2-low active high 86',
      'bed-1-oximeter spo2-low cleared high 92',
    ]);

    // The binary oximeter: whole packets only (HR and SpO2 within the simulator's range), before and after replug.
    const bed2Readings = readings.filter((e) => e.deviceId === 'bed-2-oximeter');
    const rates = bed2Readings.filter((e) => e.metric === 'pulse-rate');
    expect(rates.length).toBeGreaterThan(3);
    for (const e of rates) expect(e.value === null || (typeof e.value === 'number' && e.value >= 60 && e.value <= 90)).toBe(true);
    for (const e of bed2Readings.filter((r) => r.metric === 'spo2')) expect(e.value).toBeGreaterThanOrEqual(94);

    // Garbage and bad checksums: counted dead letters with the raw bytes and the byte offset.
    const deadLetters = await readDistinctEvents<DeadLetterEvent>(kafka, `${prefix}deadletter`, 1);
    expect(deadLetters.length).toBeGreaterThan(0);
    for (const d of deadLetters) {
      expect(d.deviceId).toBe('bed-2-oximeter');
      expect(d.reason).toMatch(/offset \d+/);
      expect(Buffer.from(d.payloadBase64, 'base64').length).toBe(d.payloadBytes);
    }
  });
});
