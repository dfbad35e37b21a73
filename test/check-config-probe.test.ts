/**
 * `telemetry-gateway check-config --probe` as users run it, against real Mosquitto processes: what the broker
 * tells (CONNACK limits, $SYS version and drop counter), the queue measured with --probe-queue (Debian's defaults
 * keep exactly 1,000 messages for a session that is away; the shipped settings keep them all), an unreachable
 * broker, and a broker whose ACL hides $SYS.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startMosquitto, type MosquittoProfile } from '../scripts/mosquitto.mjs';
import type { ProbeReport } from '../src/inputs/input.js';
import { CLI, writeTestConfig } from './support/gateway-process.js';
import { uniqueName } from './support/wait.js';

const run = promisify(execFile);

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(profile: MosquittoProfile, extraConfig: (dir: string) => string[] = () => []): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), `etg-probe-${profile}-`));
  const b = await startMosquitto({ dataDir, profile, extraConfig: extraConfig(dataDir) });
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  cleanups.push(() => b.stop());
  return b.url;
}

/** check-config on a fresh config for `mqttUrl`; Kafka is never contacted. */
async function checkConfig(mqttUrl: string, ...flags: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { file } = writeTestConfig({ gatewayId: uniqueName('probe'), brokers: ['127.0.0.1:9'], mqttUrl, topicPrefix: 'probe.' });
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'check-config', '--config', file, ...flags]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function probeOf(stdout: string): ProbeReport {
  const [report] = (JSON.parse(stdout) as { probe: ProbeReport[] }).probe;
  if (!report) throw new Error('no probe report');
  return report;
}

describe('check-config --probe, against real Mosquitto', () => {
  it("Debian's defaults: reports version, windows and drop counter; --probe-queue measures a queue of exactly 1,000 and fails", async () => {
    const url = await broker('stock');
    const plain = await checkConfig(url, '--probe');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('probe\n  site\n');
    expect(plain.stdout).toContain('broker: mosquitto version 2.0.11');
    expect(plain.stdout).toMatch(/ok {3}drop counter: \$SYS\/broker\/publish\/messages\/dropped = 0/);
    expect(plain.stdout).toContain('not readable over MQTT');

    const measured = await checkConfig(url, '--probe-queue', '3000', '--json');
    expect(measured.code).toBe(1);
    const report = probeOf(measured.stdout);
    expect(report).toMatchObject({ input: 'site', reachable: true });
    expect(report.facts).toMatchObject({ queueKept: 1000, queueSent: 3000, receiveMaximum: 20, sessionExpirySeconds: 604_800, brokerVersion: 'mosquitto version 2.0.11' });
    const failure = report.lines.find((l) => l.level === 'error');
    expect(failure).toMatchObject({ code: 'GW_MQTT_PROBE' });
    expect(failure?.text).toContain('kept 1000 of 3000');
  }, 120_000);

  it('the shipped settings keep every probe message and grant publishers a window of 1000', async () => {
    const url = await broker('shipped');
    const measured = await checkConfig(url, '--probe-queue', '3000', '--json');
    expect(measured.code).toBe(0);
    const report = probeOf(measured.stdout);
    expect(report.facts).toMatchObject({ queueKept: 3000, queueSent: 3000, receiveMaximum: 1000 });
    expect(report.lines.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
  }, 120_000);

  it('an unreachable broker is a failed probe with its code, not a crash', async () => {
    const result = await checkConfig(`mqtt://127.0.0.1:${await freePort()}`, '--probe', '--probe-timeout', '3s');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAIL GW_MQTT_CONNECT: cannot connect to mqtt:\/\/127\.0\.0\.1:\d+/);
  }, 60_000);

  it('a broker whose ACL hides $SYS: the probe says drops cannot be watched', async () => {
    const url = await broker('stock', (dir) => {
      writeFileSync(join(dir, 'acl'), 'topic readwrite #\n'); // `#` does not cover $SYS
      return [`acl_file ${join(dir, 'acl')}`];
    });
    const result = await checkConfig(url, '--probe', '--probe-timeout', '2s');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('WARN GW_MQTT_DROPS_UNMONITORED: no $SYS statistics');
  }, 60_000);

  it('rejects bad probe flags with GW_USAGE', async () => {
    const result = await checkConfig('mqtt://127.0.0.1:1', '--probe-queue', 'lots');
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('GW_USAGE: --probe-queue lots');
  });
});
