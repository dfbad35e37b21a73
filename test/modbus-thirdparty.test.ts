import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { freeTcpPort, ModbusSimulator } from '../src/simulators/modbus.js';
import { CLI } from './support/gateway-process.js';
import { modbusInput, shippedDriver, type RecordingSink } from './support/modbus.js';
import { waitFor } from './support/wait.js';

const run = promisify(execFile);
// Debian's python3-pymodbus lives under the system Python, not the pyenv python3 on PATH.
const SYSTEM_PYTHON = '/usr/bin/python3';
const PYMODBUS_SERVER = resolve(import.meta.dirname, 'support', 'pymodbus-server.py');

const children: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
});

function spawnChild(command: string, args: string[]): ChildProcess & { output: string[] } {
  const child = Object.assign(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }), { output: [] as string[] });
  child.stdout?.on('data', (c: Buffer) => child.output.push(c.toString()));
  child.stderr?.on('data', (c: Buffer) => child.output.push(c.toString()));
  children.push(child);
  return child;
}

/** Two linked pseudo-terminals (a null-modem cable): returns their paths. */
async function ptyPair(): Promise<{ a: string; b: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'etg-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  spawnChild('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`]);
  await waitFor('socat ptys', () => existsSync(a) && existsSync(b), { timeoutMs: 5000 });
  return { a, b };
}

async function startInput(raw: Record<string, unknown>): Promise<RecordingSink> {
  const { input, sink } = modbusInput(raw);
  await input.start();
  cleanups.push(() => input.stop());
  return sink;
}

/** Registers of the pymodbus server: XY-MD02 at unit 1 (30.5 Cel, 54.6 %), SDM120 voltage 230.2 V at unit 2. */
const PYMODBUS_UNITS = JSON.stringify({
  '1': { ir: { '1': [0x0131, 0x0222] } },
  '2': { ir: { '0': [0x4366, 0x3334], '6': [0x4088, 0x0000], '342': [0x44bf, 0x8ccd] } },
});

function expectPymodbusValues(sink: RecordingSink): void {
  expect(sink.readings('th', 'temperature')[0]).toMatchObject({ value: 30.5, unit: 'Cel', quality: 'good' });
  expect(sink.readings('th', 'humidity')[0]).toMatchObject({ value: 54.6, unit: '%', quality: 'good' });
  expect(sink.readings('meter', 'voltage')[0]).toMatchObject({ value: 230.2, unit: 'V', quality: 'good' });
  expect(sink.readings('meter', 'current')[0]).toMatchObject({ value: 4.25, unit: 'A', quality: 'good' });
  expect(sink.readings('meter', 'total_active_energy')[0]).toMatchObject({ value: 1532.4, unit: 'kW.h', quality: 'good' });
}

const DEVICES = [
  { id: 'th', driver: 'xy-md02', unitId: 1, pollInterval: '200ms' },
  { id: 'meter', driver: 'eastron-sdm120', unitId: 2, pollGroups: { default: '200ms', energy: '200ms' } },
];

describe('Modbus input against pymodbus (a third-party server)', () => {
  it('pymodbus version check: Debian python3-pymodbus 3.x', async () => {
    const { stdout } = await run(SYSTEM_PYTHON, ['-c', 'import pymodbus; print(pymodbus.__version__)']);
    expect(stdout.trim()).toMatch(/^3\./);
  });

  it('Modbus TCP: XY-MD02 and SDM120 register maps decode to the served values; a missing unit goes offline', async () => {
    const port = await freeTcpPort();
    const server = spawnChild(SYSTEM_PYTHON, [PYMODBUS_SERVER, '--tcp', String(port), '--units', PYMODBUS_UNITS]);
    await waitFor('pymodbus serving', () => server.output.join('').includes('serving'), { timeoutMs: 15_000 });
    const sink = await startInput({
      transport: { kind: 'tcp', host: '127.0.0.1', port },
      timeout: '300ms',
      offlineAfter: 2,
      reconnect: { initial: '100ms', max: '500ms' },
      devices: [...DEVICES, { id: 'ghost', driver: 'xy-md02', unitId: 9, pollInterval: '200ms' }],
    });
    await waitFor('readings from both devices and the ghost offline', () =>
      sink.readings('th').length > 0 && sink.readings('meter', 'total_active_energy').length > 0 && sink.statuses('ghost').some((s) => s.status === 'offline'),
    { timeoutMs: 30_000 });
    expectPymodbusValues(sink);
    expect(sink.statuses('th').map((s) => s.status)).toEqual(['online']);
  });

  it('Modbus RTU over a pseudo-terminal pair (socat) to pymodbus’ serial server', async () => {
    const { a, b } = await ptyPair();
    const server = spawnChild(SYSTEM_PYTHON, [PYMODBUS_SERVER, '--rtu', a, '--units', PYMODBUS_UNITS]);
    await waitFor('pymodbus serving', () => server.output.join('').includes('serving'), { timeoutMs: 15_000 });
    const sink = await startInput({
      transport: { kind: 'rtu', path: b, baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 },
      timeout: '500ms',
      retries: 2,
      interRequestDelay: '5ms',
      reconnect: { initial: '100ms', max: '500ms' },
      devices: DEVICES,
    });
    const good = (device: string, metric: string) => sink.readings(device, metric).filter((r) => r.quality === 'good');
    await waitFor('good readings of every request', () => good('th', 'temperature').length > 0 && good('meter', 'voltage').length > 0 && good('meter', 'total_active_energy').length > 0, {
      timeoutMs: 30_000,
    });
    expect(good('th', 'temperature')[0]?.value).toBe(30.5);
    expect(good('meter', 'voltage')[0]?.value).toBe(230.2);
    expect(good('meter', 'total_active_energy')[0]?.value).toBe(1532.4);
  });
});

describe('Modbus RTU and RTU over TCP against our simulator (modbus-serial ServerSerial on a pty)', () => {
  it('RTU: the gateway opens the simulator’s pseudo-terminal', async () => {
    const sim = new ModbusSimulator({ rtu: true, units: [{ unitId: 7, driver: shippedDriver('xy-md02'), fixed: { temperature: -20.5, humidity: 54.6 } }] });
    await sim.start();
    cleanups.push(() => sim.stop());
    const sink = await startInput({
      transport: { kind: 'rtu', path: sim.clientPath },
      timeout: '500ms',
      retries: 2,
      devices: [{ id: 'th', driver: 'xy-md02', unitId: 7, pollInterval: '200ms' }],
    });
    await waitFor('3 good readings', () => sink.readings('th', 'temperature').filter((r) => r.quality === 'good').length >= 3, { timeoutMs: 30_000 });
    expect(new Set(sink.readings('th', 'temperature').filter((r) => r.quality === 'good').map((r) => r.value))).toEqual(new Set([-20.5]));
    expect(sim.requestsFor(7).every((r) => r.functionCode === 4 && r.start === 1 && r.count === 2)).toBe(true);
  });

  it('RTU unplug and replug: the port disappears, the device goes offline, the bus reopens the same path', async () => {
    const link = join(mkdtempSync(join(tmpdir(), 'etg-replug-')), 'ttyUSB-sim');
    const xy = shippedDriver('xy-md02');
    const first = new ModbusSimulator({ rtu: true, rtuLink: link, units: [{ unitId: 1, driver: xy, fixed: { temperature: 20, humidity: 40 } }] });
    await first.start();
    const sink = await startInput({
      transport: { kind: 'rtu', path: link },
      timeout: '300ms',
      offlineAfter: 2,
      reconnect: { initial: '100ms', max: '400ms' },
      devices: [{ id: 'th', driver: 'xy-md02', unitId: 1, pollInterval: '200ms' }],
    });
    await waitFor('online', () => sink.statuses('th').at(-1)?.status === 'online', { timeoutMs: 30_000 });
    await first.stop(); // unplugged: the pseudo-terminal is gone
    await waitFor('offline', () => sink.statuses('th').at(-1)?.status === 'offline', { timeoutMs: 30_000 });
    const second = new ModbusSimulator({ rtu: true, rtuLink: link, units: [{ unitId: 1, driver: xy, fixed: { temperature: 25, humidity: 40 } }] });
    await second.start(); // plugged in again at the same path
    cleanups.push(() => second.stop());
    await waitFor('online again with the new values', () => sink.statuses('th').at(-1)?.status === 'online' && sink.readings('th', 'temperature').some((r) => r.value === 25), {
      timeoutMs: 30_000,
    });
    expect(sink.statuses('th').map((s) => s.status)).toEqual(['online', 'degraded', 'offline', 'online']);
  });

  it('RTU over TCP: a serial device server (socat TCP ↔ pty) in front of the RTU simulator', async () => {
    const sim = new ModbusSimulator({ rtu: true, units: [{ unitId: 3, driver: shippedDriver('eastron-sdm120'), fixed: { voltage: 229.9 } }] });
    await sim.start();
    cleanups.push(() => sim.stop());
    const port = await freeTcpPort();
    spawnChild('socat', [`tcp-listen:${port},bind=127.0.0.1,reuseaddr`, `open:${sim.clientPath},raw,echo=0`]);
    const sink = await startInput({
      transport: { kind: 'rtu-over-tcp', host: '127.0.0.1', port },
      timeout: '500ms',
      retries: 2,
      reconnect: { initial: '100ms', max: '500ms' },
      devices: [{ id: 'meter', driver: 'eastron-sdm120', unitId: 3, pollInterval: '300ms' }],
    });
    await waitFor('a good voltage', () => sink.readings('meter', 'voltage').some((r) => r.quality === 'good'), { timeoutMs: 30_000 });
    expect(sink.readings('meter', 'voltage').find((r) => r.quality === 'good')?.value).toBe(229.9);
  });
});

describe('cross-check with mbpoll (Debian package)', () => {
  it('mbpoll reads the same float32 and int16 values from our simulator that the gateway decodes', async () => {
    const sim = new ModbusSimulator({
      units: [
        { unitId: 1, driver: shippedDriver('eastron-sdm120'), fixed: { voltage: 230.2, current: 4.25 } },
        { unitId: 2, driver: shippedDriver('xy-md02'), fixed: { temperature: -20.5, humidity: 54.6 } },
      ],
    });
    await sim.start();
    cleanups.push(() => sim.stop());
    const mbpoll = async (args: string[]): Promise<string[]> => {
      const { stdout } = await run('mbpoll', ['-m', 'tcp', '-p', String(sim.port), '-0', '-1', '-o', '2', ...args, '127.0.0.1']);
      return [...stdout.matchAll(/^\[(\d+)\]:\s+(\S+)/gm)].map((m) => `${m[1]}=${m[2]}`);
    };
    // -B: big-endian word order (high word first) = ABCD; -t 3:float = float32 from input registers.
    expect(await mbpoll(['-a', '1', '-t', '3:float', '-B', '-r', '0', '-c', '1'])).toEqual(['0=230.2']);
    expect(await mbpoll(['-a', '1', '-t', '3:float', '-B', '-r', '6', '-c', '1'])).toEqual(['6=4.25']);
    // mbpoll shows 16-bit registers unsigned: 65331 = 0xFF33 = -205 as int16 (-20.5 Cel at ×10).
    expect(await mbpoll(['-a', '2', '-t', '3', '-r', '1', '-c', '2'])).toEqual(['1=65331', '2=546']);

    const sink = await startInput({
      transport: { kind: 'tcp', host: '127.0.0.1', port: sim.port },
      devices: [
        { id: 'meter', driver: 'eastron-sdm120', unitId: 1, pollInterval: '200ms' },
        { id: 'th', driver: 'xy-md02', unitId: 2, pollInterval: '200ms' },
      ],
    });
    await waitFor('readings', () => sink.readings('meter', 'voltage').length > 0 && sink.readings('th', 'temperature').length > 0);
    expect(sink.readings('meter', 'voltage')[0]?.value).toBe(230.2);
    expect(sink.readings('meter', 'current')[0]?.value).toBe(4.25);
    expect(sink.readings('th', 'temperature')[0]?.value).toBe(-20.5);
  });

  it('`telemetry-gateway simulate --driver xy-md02` serves plausible values that mbpoll can read', async () => {
    const port = await freeTcpPort();
    const sim = spawnChild(process.execPath, [CLI, 'simulate', '--driver', 'xy-md02', '--port', String(port), '--unit-id', '5']);
    await waitFor('simulator listening', () => sim.output.join('').includes(`modbus TCP simulator on 127.0.0.1:${port}: unit 5 XY-MD02`), { timeoutMs: 15_000 });
    const { stdout } = await run('mbpoll', ['-m', 'tcp', '-p', String(port), '-a', '5', '-t', '3', '-0', '-r', '1', '-c', '2', '-1', '127.0.0.1']);
    const values = [...stdout.matchAll(/^\[(\d+)\]:\s+(-?\d+)/gm)].map((m) => Number(m[2]));
    expect(values).toHaveLength(2);
    const [temperature = 0, humidity = 0] = values;
    // driver simulate hints: 21.5 ± 1.5 (+noise) Cel and 48 ± 6 %, ×10 on the wire
    expect(temperature).toBeGreaterThanOrEqual(195);
    expect(temperature).toBeLessThanOrEqual(235);
    expect(humidity).toBeGreaterThanOrEqual(415);
    expect(humidity).toBeLessThanOrEqual(545);
  });

  it('`telemetry-gateway simulate --driver xy-md02 --rtu` serves RTU on the pseudo-terminal it prints; mbpoll -m rtu reads it', async () => {
    const sim = spawnChild(process.execPath, [CLI, 'simulate', '--driver', 'xy-md02', '--rtu', '--unit-id', '4']);
    const path = await waitFor('the printed pty path', () => /modbus RTU simulator on (\S+) \(9600 8N1\): unit 4 XY-MD02/.exec(sim.output.join(''))?.[1], { timeoutMs: 15_000 });
    const { stdout } = await run('mbpoll', ['-m', 'rtu', '-b', '9600', '-P', 'none', '-a', '4', '-t', '3', '-0', '-r', '1', '-c', '2', '-1', '-o', '2', path]);
    const [temperature = 0, humidity = 0] = [...stdout.matchAll(/^\[(\d+)\]:\s+(-?\d+)/gm)].map((m) => Number(m[2]));
    expect(temperature).toBeGreaterThanOrEqual(195);
    expect(temperature).toBeLessThanOrEqual(235);
    expect(humidity).toBeGreaterThanOrEqual(415);
    expect(humidity).toBeLessThanOrEqual(545);
  });
});
