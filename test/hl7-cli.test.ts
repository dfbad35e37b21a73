// The HL7 input on the command line: check-config prints the listener, the ACK modes and the mapping of the sample
// config and refuses a listener off loopback without TLS (with the path and what to do); simulate explains what it
// needs.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CLI } from './support/gateway-process.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('HL7 on the command line', () => {
  it('check-config prints the listener, ACK modes, resend window and the driver mapping of the sample config', async () => {
    const { code, stdout } = await cli(['check-config', '--config', 'config/examples/hl7-pcd01.yaml']);
    expect(code).toBe(0);
    expect(stdout).toContain('hl7 icu-central: MLLP listen 127.0.0.1:2575 (loopback, no TLS), from any address, at most 64 connections');
    expect(stdout).toContain('ACK after commit: original mode AA / AE / AR, enhanced mode (MSH-15/16) CA / CE / CR');
    expect(stdout).toContain('resends (MSH-3 + MSH-4 + MSH-10) recognised for 24 h');
    expect(stdout).toContain('ORU^R01 → readings, ORU^R40 → alarms; other types refused (AR / CR)');
    expect(stdout).toContain('150456 MDC_PULS_OXIM_SAT_O2 → spo2');
    expect(stdout).toContain('patient identifiers never copied');
  });

  it('check-config refuses a listener off loopback without TLS, naming the path and the fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-hl7-cli-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, stringify({ gateway: { id: 'x' }, kafka: { brokers: ['127.0.0.1:9092'] }, inputs: [{ type: 'hl7', name: 'ward', listen: { host: '0.0.0.0', port: 2575 } }] }));
    const { code, stderr } = await cli(['check-config', '--config', file]);
    expect(code).toBe(1);
    expect(stderr).toContain('GW_CONFIG_INVALID');
    expect(stderr).toContain('inputs[0].listen.host: "0.0.0.0" is not a loopback address: set listen.tls (cert, key) or, on a network that is protected otherwise, listen.allowInsecure: true');
  });

  it('simulate --driver ihe-pcd01 needs the port of the listener to send to', async () => {
    const { code, stderr } = await cli(['simulate', '--driver', 'ihe-pcd01']);
    expect(code).not.toBe(0);
    expect(stderr).toContain("GW_USAGE: the HL7 simulator is a sender: give --port (and --host) of the gateway's MLLP listener");
  });

  it.each([
    [['--port', '2575', '--base', 'ward'], '--base: not an option of the hl7 simulator (it takes --port, --host, --device-id, --interval, --count, --fault)'],
    [['--port', '2575', '--device-id', 'bed-1', '--device-id', 'bed-2'], '--device-id: the HL7 simulator is one monitor; give one (got bed-1, bed-2)'],
    [['--port', '2575', '--count', 'many'], '--count: expected a whole number from 1 to'],
    [['--port', '2575', '--interval', 'soon'], '--interval: expected a duration (e.g. 500ms, 2s; 0 = back to back), got "soon"'],
  ])('simulate --driver ihe-pcd01 refuses %j', async (args, message) => {
    const { code, stderr } = await cli(['simulate', '--driver', 'ihe-pcd01', ...args]);
    expect(code).toBe(64);
    expect(stderr).toContain(`GW_USAGE: ${message}`);
  });
});
