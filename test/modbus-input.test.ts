import { afterEach, describe, expect, it } from 'vitest';
import { ModbusSimulator } from '../src/simulators/modbus.js';
import type { ModbusInput } from '../src/inputs/modbus/modbus-input.js';
import { modbusInput, shippedDriver, type RecordingSink } from './support/modbus.js';
import { waitFor } from './support/wait.js';

// Against modbus-serial's ServerTCP (our simulator): real sockets, real frames, requests counted at the server.
describe('Modbus input against a Modbus TCP server', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function simulator(units: ConstructorParameters<typeof ModbusSimulator>[0]['units'], port?: number): Promise<ModbusSimulator> {
    const sim = new ModbusSimulator({ units, ...(port === undefined ? {} : { port }) });
    await sim.start();
    cleanups.push(() => sim.stop());
    return sim;
  }

  async function started(raw: Record<string, unknown>): Promise<{ input: ModbusInput; sink: RecordingSink }> {
    const running = modbusInput(raw);
    await running.input.start();
    cleanups.push(() => running.input.stop());
    return running;
  }

  it('reads the drivers’ values, one append per poll, exactly the planned requests (counted at the server)', async () => {
    const sim = await simulator([
      { unitId: 1, driver: shippedDriver('xy-md02'), fixed: { temperature: 21.5, humidity: 48.2 } },
      { unitId: 2, driver: shippedDriver('eastron-sdm120'), fixed: { voltage: 230.2, current: 4.25, import_active_energy: 1532.4, total_active_energy: 1532.4 } },
    ]);
    const { input, sink } = await started({
      transport: { kind: 'tcp', host: '127.0.0.1', port: sim.port },
      devices: [
        { id: 'th-1', driver: 'xy-md02', unitId: 1, pollInterval: '200ms' },
        { id: 'meter-1', driver: 'eastron-sdm120', unitId: 2, pollGroups: { default: '250ms', energy: '500ms' } },
      ],
    });
    await waitFor('5 sensor polls and 3 energy polls', () => sink.pollsWith('th-1', 'temperature').length >= 5 && sink.pollsWith('meter-1', 'total_active_energy').length >= 3);
    await input.stop();

    const th = sink.readings('th-1');
    expect(new Set(th.filter((r) => r.metric === 'temperature').map((r) => `${r.value} ${r.unit} ${r.quality}`))).toEqual(new Set(['21.5 Cel good']));
    expect(new Set(th.filter((r) => r.metric === 'humidity').map((r) => `${r.value} ${r.unit} ${r.quality}`))).toEqual(new Set(['48.2 % good']));
    expect(th[0]?.source).toBe('modbus bus unit 1 FC04 0x0001+2');
    expect(new Set(sink.readings('meter-1', 'voltage').map((r) => r.value))).toEqual(new Set([230.2]));
    expect(new Set(sink.readings('meter-1', 'current').map((r) => r.value))).toEqual(new Set([4.25]));
    expect(new Set(sink.readings('meter-1', 'total_active_energy').map((r) => `${r.value} ${r.unit}`))).toEqual(new Set(['1532.4 kW.h']));
    for (const r of sink.readings('meter-1')) {
      expect(r.quality).toBe('good');
      expect(typeof r.value).toBe('number');
    }

    // One append per poll: a batch holds one device's one poll group (plus its status transition, if any).
    for (const batch of sink.batches) {
      expect(new Set(batch.map((d) => d.deviceId)).size).toBe(1);
      const metrics = batch.flatMap((d) => (d.type === 'reading' ? [d.metric] : []));
      expect([
        'temperature,humidity',
        'voltage,current,active_power,apparent_power,reactive_power,power_factor,phase_angle,frequency',
        'import_active_energy,export_active_energy,import_reactive_energy,export_reactive_energy,total_power_demand,total_active_energy,total_reactive_energy',
      ]).toContain(metrics.join(','));
    }

    // Requests at the server = polls × planned requests, with the planned function code, start and count.
    const thPolls = sink.pollsWith('th-1', 'temperature').length;
    const meterFast = sink.pollsWith('meter-1', 'voltage').length;
    const meterEnergy = sink.pollsWith('meter-1', 'total_active_energy').length;
    expect(sim.requestsFor(1)).toHaveLength(thPolls);
    expect(new Set(sim.requestsFor(1).map((r) => `${r.functionCode} ${r.start} ${r.count}`))).toEqual(new Set(['4 1 2']));
    expect(sim.requestsFor(2)).toHaveLength(meterFast + 2 * meterEnergy);
    expect(new Set(sim.requestsFor(2).map((r) => `${r.functionCode} ${r.start} ${r.count}`))).toEqual(new Set(['4 0 72', '4 72 14', '4 342 4']));
    expect(input.stats.requests).toBe(sim.served.length);

    // First poll of each device: online (from unknown), nothing after while it stays healthy.
    expect(sink.statuses('th-1').map((s) => `${s.previous}→${s.status}`)).toEqual(['unknown→online']);
    expect(sink.statuses('meter-1').map((s) => `${s.previous}→${s.status}`)).toEqual(['unknown→online']);
  });

  it('isolates an unreachable and an exception-throwing device on a shared bus; both recover', async () => {
    const xy = shippedDriver('xy-md02');
    const fixed = { temperature: 20, humidity: 50 };
    const sim = await simulator([1, 2, 3, 4].map((unitId) => ({ unitId, driver: xy, fixed })));
    sim.setFault(3, { kind: 'silent' });
    sim.setFault(4, { kind: 'exception', code: 2 });
    const interval = 800;
    const { input, sink } = await started({
      transport: { kind: 'tcp', host: '127.0.0.1', port: sim.port },
      timeout: '300ms',
      retries: 1,
      offlineAfter: 2,
      devices: [1, 2, 3, 4].map((unitId) => ({ id: `th-${unitId}`, driver: 'xy-md02', unitId, pollInterval: interval })),
    });
    await waitFor('units 3 and 4 offline', () => sink.statuses('th-3').some((s) => s.status === 'offline') && sink.statuses('th-4').some((s) => s.status === 'offline'));

    // Their transitions, with the reason: degraded after the first failed poll, offline after offlineAfter.
    expect(sink.statuses('th-3').map((s) => `${s.previous}→${s.status}`)).toEqual(['unknown→degraded', 'degraded→offline']);
    expect(sink.statuses('th-3')[1]?.reason).toContain('2 consecutive poll(s) failed: no answer within 300 ms');
    expect(sink.statuses('th-4').map((s) => `${s.previous}→${s.status}`)).toEqual(['unknown→degraded', 'degraded→offline']);
    expect(sink.statuses('th-4')[0]?.reason).toContain('exception 2 ILLEGAL_DATA_ADDRESS');
    // Their metrics are bad, never a number.
    for (const r of [...sink.readings('th-3'), ...sink.readings('th-4')]) {
      expect(r.quality).toBe('bad');
      expect(r.value).toBeNull();
    }
    expect(sink.readings('th-3').length).toBeGreaterThan(0);

    // The figures per device (what /metrics and the status page show) tell the faults apart, counted at the server.
    const figures = (device: string): Record<string, number> =>
      Object.fromEntries(input.metrics().filter((m) => m.labels?.device === device).map((m) => [`${m.name}${m.labels?.exception ? `{${m.labels.exception}}` : ''}`, m.value]));
    const served = { three: sim.requestsFor(3).length, four: sim.requestsFor(4).length };
    const three = figures('th-3');
    const four = figures('th-4');
    expect(three.modbus_requests_total).toBeGreaterThanOrEqual(served.three);
    // (one request may be on its way while the figures are read)
    expect(three.modbus_timeouts_total).toBeGreaterThanOrEqual((three.modbus_requests_total ?? 0) - 1);
    expect(three.modbus_timeouts_total).toBeLessThanOrEqual(three.modbus_requests_total ?? 0);
    expect(three.modbus_failed_reads_total).toBeGreaterThanOrEqual(2);
    expect(four.modbus_requests_total).toBeGreaterThanOrEqual(served.four);
    expect(four['modbus_exceptions_total{ILLEGAL_DATA_ADDRESS}']).toBeGreaterThanOrEqual((four.modbus_requests_total ?? 0) - 1);
    expect(four['modbus_exceptions_total{ILLEGAL_DATA_ADDRESS}']).toBeGreaterThan(0);
    expect(four.modbus_timeouts_total).toBe(0);
    expect(figures('th-1')).toMatchObject({ modbus_timeouts_total: 0, modbus_failed_reads_total: 0, modbus_invalid_responses_total: 0 });
    expect(figures('th-1').modbus_polls_total).toBeGreaterThan(0);
    expect(figures('th-1').modbus_poll_duration_seconds_total).toBeGreaterThan(0);
    expect(figures('th-1').modbus_last_poll_duration_seconds).toBeGreaterThan(0);
    expect(input.devices()).toEqual(['th-1', 'th-2', 'th-3', 'th-4']);
    expect(input.connection()).toMatchObject({ state: 'connected', endpoint: `tcp 127.0.0.1:${sim.port}` });

    // The healthy devices keep being polled meanwhile, every reading good; the offline one gets one attempt per
    // poll and no retries: its requests at the server match its polls (give or take the one in flight at either
    // end of the window). Counts, not clock time: how many polls fit in a second is the machine's business.
    const before = {
      one: sink.pollsWith('th-1', 'temperature').length,
      two: sink.pollsWith('th-2', 'temperature').length,
      three: sink.pollsWith('th-3', 'temperature').length,
      served: sim.served.length,
    };
    await waitFor('8 more polls of th-1 and th-2', () => sink.pollsWith('th-1', 'temperature').length >= before.one + 8 && sink.pollsWith('th-2', 'temperature').length >= before.two + 8);
    const threePolls = sink.pollsWith('th-3', 'temperature').length - before.three;
    const threeRequests = sim.requestsFor(3, before.served).length;
    expect(threePolls).toBeGreaterThan(0);
    expect(Math.abs(threeRequests - threePolls)).toBeLessThanOrEqual(1);
    // A poll the bus could not fit in its interval is declared (a gap), never skipped silently.
    for (const gap of [...sink.gaps('th-1'), ...sink.gaps('th-2')]) expect(gap.reason).toMatch(/^poll-overrun/);
    for (const r of [...sink.readings('th-1'), ...sink.readings('th-2')]) expect(r.quality).toBe('good');
    expect(sink.statuses('th-1').map((s) => s.status)).toEqual(['online']);

    // Recovery: the server answers again → online, good readings.
    sim.setFault(3, undefined);
    sim.setFault(4, undefined);
    await waitFor('units 3 and 4 back online', () => sink.statuses('th-3').at(-1)?.status === 'online' && sink.statuses('th-4').at(-1)?.status === 'online');
    expect(sink.statuses('th-3').at(-1)?.previous).toBe('offline');
    await waitFor('a good reading from unit 3', () => sink.readings('th-3', 'temperature').some((r) => r.quality === 'good' && r.value === 20));
    await input.stop();
  });

  it('retries after exception 6 (server busy) and reports good values', async () => {
    const sim = await simulator([{ unitId: 1, driver: shippedDriver('xy-md02'), fixed: { temperature: 19.5, humidity: 40 } }]);
    sim.setFault(1, { kind: 'busy' }); // every other request answers SERVER_DEVICE_BUSY
    const { input, sink } = await started({
      transport: { kind: 'tcp', host: '127.0.0.1', port: sim.port },
      retries: 1,
      devices: [{ id: 'th', driver: 'xy-md02', unitId: 1, pollInterval: '100ms' }],
    });
    await waitFor('4 polls', () => sink.pollsWith('th', 'temperature').length >= 4);
    await input.stop();
    expect(new Set(sink.readings('th', 'temperature').map((r) => `${r.value} ${r.quality}`))).toEqual(new Set(['19.5 good']));
    expect(input.stats.retries).toBeGreaterThan(0);
    expect(sim.served.length).toBe(input.stats.requests);
    expect(sink.statuses('th').map((s) => s.status)).toEqual(['online']);
  });

  it('a poll that outlasts its interval is reported as an overrun gap, not silently skipped', async () => {
    const sim = await simulator([{ unitId: 1, driver: shippedDriver('xy-md02') }]);
    sim.setFault(1, { kind: 'silent' });
    const { input, sink } = await started({
      transport: { kind: 'tcp', host: '127.0.0.1', port: sim.port },
      timeout: '300ms',
      retries: 0,
      offlineAfter: 100,
      devices: [{ id: 'slow', driver: 'xy-md02', unitId: 1, pollInterval: '100ms' }],
    });
    await waitFor('an overrun gap', () => sink.gaps('slow').length > 0);
    await input.stop();
    const gap = sink.gaps('slow')[0];
    expect(gap?.reason).toMatch(/^poll-overrun: group default \(every 100 ms\) was still busy; \d+ poll\(s\) of 2 metric\(s\) skipped$/);
    expect(gap?.count).toBeGreaterThanOrEqual(2);
    expect(Date.parse(gap?.toTime ?? '')).toBeGreaterThanOrEqual(Date.parse(gap?.fromTime ?? ''));
    expect(input.stats.overruns).toBeGreaterThan(0);
  });

  it('report-on-change sends a value only when it moved more than the deadband', async () => {
    const sim = await simulator([{ unitId: 1, driver: shippedDriver('xy-md02'), fixed: { temperature: 20, humidity: 50 } }]);
    const { input, sink } = await started({
      transport: { kind: 'tcp', host: '127.0.0.1', port: sim.port },
      devices: [{ id: 'th', driver: 'xy-md02', unitId: 1, pollInterval: '100ms', overrides: { temperature: { deadband: 0.5 } } }],
    });
    await waitFor('5 polls', () => sink.pollsWith('th', 'humidity').length >= 5);
    expect(sink.readings('th', 'temperature').map((r) => r.value)).toEqual([20]);
    sim.setValue(1, 'temperature', 20.3); // within the deadband
    const served = sim.served.length;
    await waitFor('3 more polls', () => sim.served.length >= served + 3);
    sim.setValue(1, 'temperature', 21);
    await waitFor('the change reported', () => sink.readings('th', 'temperature').length >= 2);
    await input.stop();
    expect(sink.readings('th', 'temperature').map((r) => r.value)).toEqual([20, 21]);
    expect(sink.readings('th', 'humidity').length).toBeGreaterThanOrEqual(8); // no deadband: every poll
  });

  it('a lost bus marks its devices offline and reconnects with backoff when the server is back', async () => {
    const xy = shippedDriver('xy-md02');
    const sim = await simulator([{ unitId: 1, driver: xy, fixed: { temperature: 22, humidity: 45 } }]);
    const port = sim.port;
    const { input, sink } = await started({
      transport: { kind: 'tcp', host: '127.0.0.1', port },
      timeout: '200ms',
      offlineAfter: 2,
      reconnect: { initial: '100ms', max: '400ms' },
      devices: [{ id: 'th', driver: 'xy-md02', unitId: 1, pollInterval: '100ms' }],
    });
    await waitFor('online', () => sink.statuses('th').some((s) => s.status === 'online'));
    expect(input.metrics().find((m) => m.name === 'modbus_connected')?.value).toBe(1);
    await sim.stop();
    await waitFor('offline', () => sink.statuses('th').at(-1)?.status === 'offline');
    expect(sink.statuses('th').at(-1)?.reason).toMatch(/bus not connected|connection closed|no answer/);
    // Not connected: between reconnect attempts 'disconnected', during one 'connecting' (the backoff from 100 ms is
    // jittered, so which of the two this moment falls in depends on the machine's load).
    expect(input.connection()).toMatchObject({ endpoint: `tcp 127.0.0.1:${port}`, detail: expect.stringMatching(/.+/) });
    expect(['disconnected', 'connecting']).toContain(input.connection().state);
    expect(input.metrics().find((m) => m.name === 'modbus_connected')?.value).toBe(0);
    const again = await simulator([{ unitId: 1, driver: xy, fixed: { temperature: 23, humidity: 45 } }], port);
    await waitFor('online again', () => sink.statuses('th').at(-1)?.status === 'online', { timeoutMs: 20_000 });
    await waitFor('a reading from the new server', () => sink.readings('th', 'temperature').some((r) => r.value === 23));
    expect(again.requestsFor(1).length).toBeGreaterThan(0);
    expect(input.stats.connects).toBeGreaterThanOrEqual(2);
    expect(input.connection()).toMatchObject({ state: 'connected', detail: expect.stringMatching(/^reconnected [1-9]\d*×$/) });
    expect(input.metrics().find((m) => m.name === 'modbus_connects_total')?.value).toBe(input.stats.connects);
    await input.stop();
  });
});
