import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ModbusSimulator } from '../src/simulators/modbus.js';
import type { DeviceStatusEvent, GapEvent, ReadingEvent } from '../src/events/schema.js';
import { GatewayProcess, writeTestConfig } from './support/gateway-process.js';
import { readTopic } from './support/kafka.js';
import { shippedDriver } from './support/modbus.js';
import { uniqueName } from './support/wait.js';

describe('Modbus → gateway process → buffer → Kafka, end to end', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const gatewayId = uniqueName('e2e-modbus');
  const prefix = `${gatewayId}.`;
  let gateway: GatewayProcess;
  let simulator: ModbusSimulator;

  beforeAll(async () => {
    simulator = new ModbusSimulator({
      units: [
        { unitId: 1, driver: shippedDriver('xy-md02'), fixed: { temperature: 21.5, humidity: 48.2 } },
        { unitId: 2, driver: shippedDriver('eastron-sdm120'), fixed: { voltage: 230.2 } },
        { unitId: 3, driver: shippedDriver('xy-md02') },
      ],
    });
    await simulator.start();
    simulator.setFault(3, { kind: 'silent' }); // a device that never answers, on the same bus
    const { file } = writeTestConfig({
      gatewayId,
      brokers: [kafka],
      mqttUrl,
      topicPrefix: prefix,
      overrides: {
        inputs: [
          {
            type: 'modbus',
            name: 'rs485-1',
            transport: { kind: 'tcp', host: '127.0.0.1', port: simulator.port },
            // Generous: a request of a healthy device that times out on a loaded machine would make it degraded.
            timeout: '2s',
            offlineAfter: 2,
            devices: [
              { id: 'room-th', driver: 'xy-md02', unitId: 1, pollInterval: '1s' },
              { id: 'main-meter', driver: 'eastron-sdm120', unitId: 2, pollGroups: { default: '1s', energy: '2s' } },
              { id: 'dead-th', driver: 'xy-md02', unitId: 3, pollInterval: '1s' },
            ],
          },
        ],
      },
    });
    gateway = new GatewayProcess(file);
    await gateway.ready();
  });

  afterAll(async () => {
    expect(await gateway?.stop()).toBe(0);
    await simulator?.stop();
  });

  it('delivers typed readings and device-status transitions to Kafka, keyed by device', async () => {
    const records = (await readTopic(kafka, `${prefix}readings`, 60, 120_000)).map((r) => ({ key: r.key, event: JSON.parse(r.value) as ReadingEvent | GapEvent }));
    for (const { key, event } of records) {
      expect(key).toBe(event.deviceId);
      expect(event.gatewayId).toBe(gatewayId);
    }
    // Gap events travel on the readings topic: a poll that could not run because the previous one was still
    // waiting on the bus (the silent device's timeouts take bus time) is reported, never silently skipped.
    const gaps = records.flatMap((r) => (r.event.type === 'gap' ? [r.event] : []));
    for (const gap of gaps) expect(gap.reason).toMatch(/^poll-overrun/);
    const readings = records.flatMap((r) => (r.event.type === 'reading' ? [{ key: r.key, event: r.event }] : []));
    const of = (deviceId: string, metric: string) => readings.filter((r) => r.event.deviceId === deviceId && r.event.metric === metric).map((r) => r.event);
    // Every reading of a fixed value, as a set of what arrived: never empty (which a loop would pass vacuously).
    const values = (deviceId: string, metric: string) => new Set(of(deviceId, metric).map((e) => JSON.stringify([e.value, e.unit, e.quality])));
    expect(values('room-th', 'temperature')).toEqual(new Set([JSON.stringify([21.5, 'Cel', 'good'])]));
    expect(values('room-th', 'humidity')).toEqual(new Set([JSON.stringify([48.2, '%', 'good'])]));
    expect(values('main-meter', 'voltage')).toEqual(new Set([JSON.stringify([230.2, 'V', 'good'])]));
    expect(values('dead-th', 'temperature')).toEqual(new Set([JSON.stringify([null, 'Cel', 'bad'])]));
    expect(of('room-th', 'temperature')[0]?.source).toBe('modbus rs485-1 unit 1 FC04 0x0001+2');

    // Per device, seq runs 0,1,2,… on the readings topic (first copy of each event: at least once).
    const firstCopies = [...new Map(records.map((r) => [r.event.id, r.event])).values()];
    const seqs = firstCopies.filter((e) => e.deviceId === 'room-th').map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));

    const statuses = (await readTopic(kafka, `${prefix}device-status`, 4, 60_000)).map((r) => JSON.parse(r.value) as DeviceStatusEvent);
    const transitions = (deviceId: string) => statuses.filter((s) => s.deviceId === deviceId).map((s) => `${s.previous}→${s.status}`);
    expect(transitions('room-th')).toEqual(['unknown→online']);
    expect(transitions('main-meter')).toEqual(['unknown→online']);
    expect(transitions('dead-th')).toEqual(['unknown→degraded', 'degraded→offline']);
    expect(statuses.find((s) => s.deviceId === 'dead-th' && s.status === 'offline')?.reason).toContain('no answer within 2000 ms');
  });
});
