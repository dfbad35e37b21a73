/**
 * The serial family through the CLI as users run it (needs `npm run build`): check-config prints the serial plan
 * and fails on a broken driver file naming file, path and reason; `simulate --driver` serves a pseudo-terminal
 * whose path it prints and which carries the device's records.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SerialPort } from 'serialport';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CLI } from './support/gateway-process.js';
import { waitFor } from './support/wait.js';

const run = promisify(execFile);
const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'etg-serial-cli-'));
  tempDirs.push(dir);
  return dir;
}

function configWith(dir: string, inputs: unknown[]): string {
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify({ gateway: { id: 'gw-serial-cli' }, kafka: { brokers: ['127.0.0.1:9092'] }, http: { enabled: false }, inputs }));
  return file;
}

describe('serial through the CLI', () => {
  it('check-config prints port, line settings, framing and fields', async () => {
    const dir = tempDir();
    const file = configWith(dir, [
      { type: 'serial', name: 'bed-3', port: '/dev/serial/by-id/usb-FTDI-if00-port0', driver: 'pulse-oximeter-df2', deviceId: 'bed-3-oximeter', stopBits: 2 },
    ]);
    const { stdout } = await run(process.execPath, [CLI, 'check-config', '--config', file]);
    expect(stdout).toContain('serial bed-3: /dev/serial/by-id/usb-FTDI-if00-port0 (9600 8N2, no flow control), device bed-3-oximeter, driver pulse-oximeter-df2');
    expect(stdout).toContain('framing: fixed 5-byte frames (2 byte tests), checksum sum8, 25 frames a packet');
    expect(stdout).toContain('frame 2 byte 3 & 0x7f → spo2 [%] code MDC_PULS_OXIM_SAT_O2, no value: 127');
  });

  it('check-config fails on a broken driver file with file, path and reason', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'devices'));
    writeFileSync(
      join(dir, 'devices', 'my-scale.yaml'),
      ['kind: serial', 'name: my-scale', 'framing: { type: lines, endings: crlf }', 'records:', '  - name: weight', "    parse: { type: regex, pattern: '(?<w>[0-9.]+' }", '    fields: [{ metric: weight, from: w, unit: kg }]'].join('\n'),
    );
    const file = configWith(dir, [{ type: 'serial', name: 'scale', port: '/dev/ttyUSB0', driver: 'my-scale', deviceId: 'scale-1' }]);
    const failed = await run(process.execPath, [CLI, 'check-config', '--config', file]).then(
      () => undefined,
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(failed?.code).not.toBe(0);
    const output = `${failed?.stdout ?? ''}${failed?.stderr ?? ''}`;
    // A broken driver file alone still heads the report with GW_CONFIG_INVALID; its line names GW_DRIVER_INVALID.
    expect(output).toContain(`GW_CONFIG_INVALID: ${file} is invalid (1 problem)`);
    expect(output).toContain(`${join(dir, 'devices', 'my-scale.yaml')}:6:36: records[0].parse.pattern: GW_DRIVER_INVALID: invalid regular expression`);
    expect(output).toContain('(driver file of inputs[0].driver)');
  });

  it('simulate --driver prints the port to give the gateway and writes records there', async () => {
    const child = spawn(process.execPath, [CLI, 'simulate', '--driver', 'nmea-gps', '--fault', 'bad-checksum'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      // The last line is printed once the signal handlers are in place (Ctrl-C before that would not stop it cleanly).
      await waitFor('the simulator started', () => out.includes('Ctrl-C stops the simulator.'));
      const path = /give the gateway this port: (\S+)/.exec(out)?.[1] ?? '';
      expect(out).toMatch(/serial nmea-gps: port \S+ \(4800 8N1\), 2 records\/s, faults: bad-checksum/);
      const port = new SerialPort({ path, baudRate: 4800 });
      let text = '';
      port.on('data', (d: Buffer) => (text += d.toString('latin1')));
      await waitFor('two sentences', () => (text.match(/\$GP(GGA|RMC),[^\r]*\*[0-9A-F]{2}\r\n/g) ?? []).length >= 2, { timeoutMs: 10_000 });
      await new Promise<void>((resolve) => port.close(() => resolve()));
    } finally {
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    }
  });
});
