import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { GatewayError } from '../src/errors.js';
import { driverSearchPaths, loadDriverFile, SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import { ModbusDevice } from '../src/inputs/modbus/config.js';
import { ModbusDriverSchema, type ModbusDriver } from '../src/inputs/modbus/driver.js';
import { planDevice, planRequests, resolveDevice, type PlanLimits } from '../src/inputs/modbus/planner.js';
import { CLI } from './support/gateway-process.js';

const run = promisify(execFile);

function driver(registers: unknown[], extra: Record<string, unknown> = {}): ModbusDriver {
  return ModbusDriverSchema.parse({ kind: 'modbus', model: 'test', registers, ...extra });
}

const device = (extra: Record<string, unknown> = {}) => ModbusDevice.parse({ id: 'd1', driver: 'x', ...extra });

function plan(d: ModbusDriver, dev = device()): { group: string; fc: number; start: number; count: number; metrics: string[] }[] {
  return planDevice(d, dev).groups.flatMap((g) =>
    g.requests.map((r) => ({ group: g.name, fc: r.functionCode, start: r.start, count: r.count, metrics: r.registers.map((x) => x.metric) })),
  );
}

describe('Modbus read planner', () => {
  it('coalesces adjacent registers of one table into one request and keeps tables apart', () => {
    const d = driver([
      { metric: 'a', table: 'input', address: 1, type: 'int16' },
      { metric: 'b', table: 'input', address: 2, type: 'uint16' },
      { metric: 'c', table: 'holding', address: 1, type: 'uint16' },
      { metric: 'd', table: 'coil', address: 3, type: 'bool' },
      { metric: 'e', table: 'coil', address: 4, type: 'bool' },
    ]);
    expect(plan(d)).toEqual([
      { group: 'default', fc: 1, start: 3, count: 2, metrics: ['d', 'e'] },
      { group: 'default', fc: 3, start: 1, count: 1, metrics: ['c'] },
      { group: 'default', fc: 4, start: 1, count: 2, metrics: ['a', 'b'] },
    ]);
  });

  it('fills gaps up to maxGap, splits beyond it; the device can override the driver', () => {
    const regs = [
      { metric: 'a', table: 'input', address: 0, type: 'float32' },
      { metric: 'b', table: 'input', address: 6, type: 'float32' },
      { metric: 'c', table: 'input', address: 20, type: 'float32' },
    ];
    expect(plan(driver(regs)).map((r) => [r.start, r.count])).toEqual([[0, 2], [6, 2], [20, 2]]);
    expect(plan(driver(regs, { maxGap: { registers: 4 } })).map((r) => [r.start, r.count])).toEqual([[0, 8], [20, 2]]);
    expect(plan(driver(regs, { maxGap: { registers: 12 } })).map((r) => [r.start, r.count])).toEqual([[0, 22]]);
    expect(plan(driver(regs, { maxGap: { registers: 12 } }), device({ maxGap: { registers: 0 } })).map((r) => [r.start, r.count])).toEqual([
      [0, 2],
      [6, 2],
      [20, 2],
    ]);
  });

  it('never exceeds the per-request limit and never splits one value across requests', () => {
    // 70 float32 values back to back = 140 registers: 125 max → a value at 124-125 must move to the next request.
    const regs = Array.from({ length: 70 }, (_, i) => ({ metric: `v${i}`, table: 'holding', address: i * 2, type: 'float32' }));
    const requests = plan(driver(regs));
    expect(requests.map((r) => [r.start, r.count])).toEqual([[0, 124], [124, 16]]);
    for (const r of requests) expect(r.count).toBeLessThanOrEqual(125);
    expect(plan(driver(regs, { maxRegistersPerRequest: 80 })).map((r) => [r.start, r.count])).toEqual([[0, 80], [80, 60]]);
  });

  it('bit tables are limited to 2000 bits per request', () => {
    const limits: PlanLimits = { maxGapRegisters: 0, maxGapBits: 0, maxRegisters: 125, maxBits: 2000 };
    const d = driver(Array.from({ length: 2100 }, (_, i) => ({ metric: `c${i}`, table: 'coil', address: i, type: 'bool' })));
    const { registers } = resolveDevice(d, device());
    expect(planRequests(registers, limits).map((r) => [r.functionCode, r.start, r.count])).toEqual([[1, 0, 2000], [1, 2000, 100]]);
  });

  it('bits of one register share it: one register read for several bit metrics', () => {
    const d = driver([
      { metric: 'run', table: 'holding', address: 7, type: 'bit', bit: 0 },
      { metric: 'fault', table: 'holding', address: 7, type: 'bit', bit: 15 },
      { metric: 'level', table: 'holding', address: 8, type: 'uint16' },
    ]);
    expect(plan(d)).toEqual([{ group: 'default', fc: 3, start: 7, count: 2, metrics: ['run', 'fault', 'level'] }]);
  });

  it('poll groups plan separately, with their intervals; device pollInterval sets the default group', () => {
    const d = driver(
      [
        { metric: 'fast', table: 'input', address: 0 },
        { metric: 'slow', table: 'input', address: 1, group: 'slow' },
      ],
      { pollGroups: { default: '2s', slow: '1m' } },
    );
    const p = planDevice(d, device({ pollInterval: '500ms' }));
    expect(p.groups.map((g) => [g.name, g.intervalMs, g.requests.length])).toEqual([
      ['default', 500, 1],
      ['slow', 60_000, 1],
    ]);
    // Moving a metric to another group by override; disabling one.
    const moved = planDevice(d, device({ overrides: { slow: { group: 'default' } } }));
    expect(moved.groups.map((g) => [g.name, g.requests.map((r) => r.count)])).toEqual([['default', [2]]]);
    const disabled = planDevice(d, device({ overrides: { slow: { enabled: false } } }));
    expect(disabled.registers.map((r) => r.metric)).toEqual(['fast']);
  });

  it('the shipped drivers plan as documented: XY-MD02 in one request, SDM120 in three', () => {
    const load = (name: string) => loadDriverFile(name, ModbusDriverSchema, [SHIPPED_DRIVERS_DIR], SHIPPED_DRIVERS_DIR).driver;
    expect(plan(load('xy-md02'))).toEqual([{ group: 'default', fc: 4, start: 1, count: 2, metrics: ['temperature', 'humidity'] }]);
    const sdm = plan(load('eastron-sdm120'));
    expect(sdm.map((r) => [r.group, r.fc, r.start, r.count])).toEqual([
      ['default', 4, 0x0000, 72],
      ['energy', 4, 0x0048, 14],
      ['energy', 4, 0x0156, 4],
    ]);
    for (const r of sdm) expect(r.start % 2).toBe(0); // never an odd start: it would split a float
    expect(plan(load('modbus-generic-example')).length).toBeGreaterThan(0);
  });

  it('overrides must name metrics and groups of the driver', () => {
    const d = driver([{ metric: 'a', table: 'input', address: 0 }]);
    expect(planDevice(d, device({ overrides: { b: { scale: 2 } }, pollGroups: { fast: '1s' } })).problems).toEqual([
      { path: ['overrides', 'b'], message: 'the driver has no metric "b" (it has: a)' },
      { path: ['pollGroups', 'fast'], message: 'unknown poll group (the driver has: default)' },
    ]);
    const typos = driver([{ metric: 'temperature', table: 'input', address: 0, group: 'slow' }], { pollGroups: { slow: '1m' } });
    expect(planDevice(typos, device({ overrides: { temprature: { group: 'slwo' } } })).problems.map((p) => p.message)).toEqual([
      'the driver has no metric "temprature" (did you mean temperature?)',
      'unknown poll group "slwo" (did you mean slow?)',
    ]);
  });
});

describe('Modbus driver files', () => {
  it('addresses: numbers and hex are wire addresses; "3xxxx"/"4xxxx" strings are the 1-based notation and imply the table', () => {
    const d = driver([
      { metric: 'a', address: '30001', type: 'uint16' },
      { metric: 'b', address: '40010', type: 'uint16' },
      { metric: 'c', table: 'input', address: '0x0156', type: 'uint16' },
      { metric: 'd', table: 'holding', address: 30001, type: 'uint16' },
    ]);
    const regs = resolveDevice(d, device()).registers.map((r) => [r.metric, r.table, r.address]);
    expect(regs).toEqual([
      ['a', 'input', 0],
      ['b', 'holding', 9],
      ['c', 'input', 0x156],
      ['d', 'holding', 30001],
    ]);
  });

  function driverError(registers: unknown[]): { file: string; error: GatewayError | undefined } {
    const dir = mkdtempSync(join(tmpdir(), 'etg-modbus-driver-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, stringify({ kind: 'modbus', model: 'broken', registers }));
    try {
      loadDriverFile(file, ModbusDriverSchema, [dir], dir);
      return { file, error: undefined };
    } catch (err) {
      return { file, error: err as GatewayError };
    }
  }

  it('an invalid driver file fails with the file, the path and the reason', () => {
    const typo = driverError([{ metric: 'a', table: 'input', address: 0, type: 'float31' }, { metric: 'b', table: 'input', address: 'x1' }]);
    expect(typo.error?.code).toBe('GW_DRIVER_INVALID');
    expect(typo.error?.message).toBe(`driver file ${typo.file} is invalid (2 problems)`);
    expect(typo.error?.details[0]).toBe(
      `${typo.file}:7:11: registers[0].type: expected bool, bit, int16, uint16, int32, uint32, int64, uint64, float32, float64 or string, got "float31" (did you mean float32?)`,
    );
    expect(typo.error?.details[1]).toContain(`${typo.file}:10:14: registers[1].address: "x1" is not an address`);

    const { file, error } = driverError([
      { metric: 'b', address: 5 },
      { metric: 'c', table: 'holding', address: '30001' },
      { metric: 'd', table: 'coil', address: 1, type: 'int16' },
      { metric: 'e', table: 'input', address: 2, type: 'string' },
      { metric: 'f', table: 'input', address: 3, group: 'fast' },
      { metric: 'f', table: 'input', address: 0xffff, type: 'float32' },
    ]);
    expect(error?.code).toBe('GW_DRIVER_INVALID');
    expect(error?.details).toEqual([
      `${file}:4:5: registers[0].table: expected coil, discrete, holding or input (or a "3xxxx"/"4xxxx" address)`,
      `${file}:8:14: registers[1].address: reference notation names the input table but table is holding`,
      `${file}:12:11: registers[2].type: coil values are single bits: expected type bool`,
      `${file}:13:5: registers[3].length: type string needs its length in registers`,
      `${file}:20:12: registers[4].group: unknown poll group "fast" (declare it under pollGroups)`,
      `${file}:21:13: registers[5].metric: duplicate metric "f" (also registers[4])`,
      `${file}:23:14: registers[5].address: the value runs past address 0xFFFF`,
    ]);
  });

  it('check-config fails on a bad driver with file, path and reason, and prints the read plan of good ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-modbus-check-'));
    mkdirSync(join(dir, 'devices'));
    writeFileSync(join(dir, 'devices', 'bad-meter.yaml'), stringify({ kind: 'modbus', model: 'bad', registers: [{ metric: 'v', table: 'input', address: 70000 }] }));
    const base = { gateway: { id: 'check' }, kafka: { brokers: ['127.0.0.1:9092'] } };
    const input = (devices: unknown[]) => ({ type: 'modbus', name: 'bus', transport: { kind: 'tcp', host: '127.0.0.1', port: 502 }, devices });
    writeFileSync(join(dir, 'bad.yaml'), stringify({ ...base, inputs: [input([{ id: 'm', driver: 'bad-meter' }, { id: 'n', driver: 'nope', unitId: 2 }])] }));
    const bad = await run(process.execPath, [CLI, 'check-config', '-c', join(dir, 'bad.yaml')]).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string; stdout: string }) => ({ code: err.code, stderr: err.stderr + err.stdout }),
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('GW_CONFIG_INVALID');
    expect(bad.stderr).toContain(`${join(dir, 'devices', 'bad-meter.yaml')}:6:14: registers[0].address: GW_DRIVER_INVALID: must be at most 65535, got 70000 (driver file of inputs[0].devices[0].driver)`);
    expect(bad.stderr).toContain(`${join(dir, 'bad.yaml')}:17:17: inputs[0].devices[1].driver: GW_DRIVER_NOT_FOUND: driver "nope" not found; available modbus drivers: bad-meter, eastron-sdm120`);

    writeFileSync(
      join(dir, 'good.yaml'),
      stringify({ ...base, inputs: [input([{ id: 'th', driver: 'xy-md02', pollInterval: '2s' }, { id: 'meter', driver: 'eastron-sdm120', unitId: 2 }])] }),
    );
    const { stdout } = await run(process.execPath, [CLI, 'check-config', '-c', join(dir, 'good.yaml')]);
    expect(stdout).toContain('modbus bus: tcp 127.0.0.1:502');
    expect(stdout).toContain('device th unit 1: XY-MD02 (SHT20)');
    expect(stdout).toContain('group default every 2 s: 1 request(s)');
    expect(stdout).toContain('FC04 input registers 0x0001 count 2 → temperature, humidity');
    expect(stdout).toContain('FC04 input registers 0x0000 count 72 (56 unused) → voltage, current, active_power');
    expect(stdout).toContain('group energy every 1 min: 2 request(s)');
    expect(stdout).toContain('FC04 input registers 0x0156 count 4 → total_active_energy, total_reactive_energy');
  });

  it('driver names resolve from devices/ next to the config before the shipped ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-modbus-local-'));
    mkdirSync(join(dir, 'devices'));
    writeFileSync(join(dir, 'devices', 'xy-md02.yaml'), stringify({ kind: 'modbus', model: 'local copy', registers: [{ metric: 't', table: 'input', address: 1 }] }));
    expect(loadDriverFile('xy-md02', ModbusDriverSchema, driverSearchPaths(dir), dir).driver.model).toBe('local copy');
  });
});
