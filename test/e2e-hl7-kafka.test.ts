/**
 * HL7 end to end: the gateway as users run it (`node dist/cli.js run`) with an MLLP listener; a plain `socat`
 * sends fixture files (test/cases/hl7/…/input.txt as bytes) and the HL7 monitor simulator (`telemetry-gateway
 * simulate`) sends PCD-01 back to back with every message twice; events are read back from the real Kafka broker
 * with kafkajs and with kcat. Checks the ACKs the senders got, codes, units and times of the readings, alarms,
 * dead letters of bad frames, and that resends made no second event.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AlarmEvent, DeadLetterEvent, ReadingEvent } from '../src/events/schema.js';
import { MllpFramer } from '../src/inputs/hl7/mllp.js';
import { freeTcpPort } from '../src/simulators/modbus.js';
import { CLI, GatewayProcess, writeTestConfig } from './support/gateway-process.js';
import { fixtureFile, msa } from './support/hl7.js';
import { readDistinctEvents, readTopicWithKcat } from './support/kafka.js';
import { uniqueName, waitFor } from './support/wait.js';

const run = promisify(execFile);
const CASES = join(import.meta.dirname, 'cases/hl7');

/** Sends a fixture file with socat (file → TCP, TCP → stdout) and returns the ACK frames that came back. */
async function socatSend(port: number, bytes: Buffer): Promise<string[]> {
  const file = join(mkdtempSync(join(tmpdir(), 'etg-socat-')), 'in.mllp');
  writeFileSync(file, bytes);
  // -t: after the file ended, keep reading answers this long; -T: give up on a silent connection.
  const { stdout } = await run('socat', ['-t', '10', '-T', '60', `OPEN:${file},rdonly!!STDOUT`, `TCP:127.0.0.1:${port}`], { encoding: 'buffer', timeout: 90_000 });
  const framer = new MllpFramer({ maxFrameBytes: 1 << 20, keepBytes: 64 });
  return framer.push(stdout).flatMap((i) => (i.kind === 'frame' ? [i.payload.toString('utf8')] : []));
}

describe('HL7 MLLP senders → gateway process → Kafka', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const gatewayId = uniqueName('e2e-hl7');
  const prefix = `${gatewayId}.`;
  let gateway: GatewayProcess;
  let port: number;
  /** A second listener with the small frame limit of the framing-and-refusals case. */
  let smallPort: number;

  beforeAll(async () => {
    port = await freeTcpPort();
    smallPort = await freeTcpPort();
    const { file } = writeTestConfig({
      gatewayId,
      brokers: [kafka],
      mqttUrl,
      topicPrefix: prefix,
      overrides: {
        http: { enabled: false },
        inputs: [
          { type: 'hl7', name: 'icu', listen: { port } },
          { type: 'hl7', name: 'er', listen: { port: smallPort }, maxFrameBytes: 1024, deadLetterBytes: 256 },
        ],
      },
    });
    gateway = new GatewayProcess(file);
    await gateway.started();
    await waitFor('both listeners', () => gateway.logs.filter((l) => l.msg === 'hl7 listening').length === 2);
  });

  afterAll(async () => {
    expect(await gateway?.stop()).toBe(0);
  });

  it('acknowledges fixture files sent with socat and delivers their readings, alarms and dead letters', async () => {
    const periodic = await socatSend(port, fixtureFile(join(CASES, 'pcd01-gateway-periodic/input.txt')));
    expect(periodic.map((a) => msa(a))).toEqual([{ code: 'CA', controlId: 'GW3-000771' }]);
    const alarms = await socatSend(port, fixtureFile(join(CASES, 'pcd04-alarms/input.txt')));
    expect(alarms.map((a) => msa(a))).toEqual(['ALM-99001', 'ALM-99002', 'ALM-99003'].map((controlId) => ({ code: 'CA', controlId })));
    const faults = await socatSend(smallPort, fixtureFile(join(CASES, 'framing-and-refusals/input.txt')));
    expect(faults.map((a) => msa(a).code)).toEqual(['AA', 'AA', 'AA', 'AR', 'AR', 'AR', 'AE', 'AA', 'AR']);

    const readings = await readDistinctEvents<ReadingEvent>(kafka, `${prefix}readings`, 6 + 4, 90_000);
    const spo2 = readings.find((r) => r.source === 'MSH-10 GW3-000771 OBX-4 1.3.1.150456');
    expect(spo2).toMatchObject({ deviceId: '0012A3FFFE45B6C7', metric: 'spo2', value: 96, unit: '%', code: 'MDC_PULS_OXIM_SAT_O2', quality: 'good', sourceTime: '2026-11-27T09:14:59.250Z', gatewayId });
    expect(readings.find((r) => r.metric === 'heart-rate')).toMatchObject({ unit: '/min', value: 78, code: 'MDC_ECG_HEART_RATE' });
    expect(readings.find((r) => r.metric === 'temperature')).toMatchObject({ unit: 'Cel', value: 37.2, sourceTime: '2026-11-27T09:14:00.000Z' });
    // The identical resend of ER11-1 made no second event; the same control id with other content did.
    expect(readings.filter((r) => r.source === 'MSH-10 ER11-1 OBX-4 1.3.1.150456').map((r) => r.value).sort()).toEqual([93, 95]);

    const alarmEvents = (await readDistinctEvents<AlarmEvent>(kafka, `${prefix}alarms`, 3)).sort((a, b) => a.seq - b.seq);
    expect(alarmEvents.map((a) => `${a.alarm} ${a.state} ${a.severity}`)).toEqual(['spo2-low active high', 'spo2-low cleared high', 'lead-off active medium']);

    const dead = await readDistinctEvents<DeadLetterEvent>(kafka, `${prefix}deadletter`, 5);
    const reasons = dead.map((d) => d.reason);
    expect(reasons).toHaveLength(5);
    for (const pattern of [
      /^8 bytes outside an MLLP frame at byte offset 0 /,
      /^message at byte offset \d+: no MSH segment$/,
      /has no end block \(0x1C 0x0D\) before the next start block/,
      /more than maxFrameBytes 1024/,
      /^connection closed inside the frame/,
    ]) {
      expect(reasons.filter((r) => pattern.test(r)), String(pattern)).toHaveLength(1);
    }
    expect(dead.every((d) => d.input === 'er' && d.source.startsWith('mllp 127.0.0.1:'))).toBe(true);

    // The third-party client reads the same readings.
    const viaKcat = (await readTopicWithKcat(kafka, `${prefix}readings`)).map((r) => JSON.parse(r.value) as ReadingEvent);
    expect(viaKcat.find((r) => r.id === spo2?.id)).toMatchObject({ value: 96, unit: '%', code: 'MDC_PULS_OXIM_SAT_O2' });
  });

  it('takes the monitor simulator (every message sent twice) as one event per observation', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'simulate', '--driver', 'ihe-pcd01', '--port', String(port), '--interval', '0', '--count', '25', '--device-id', 'bed-12', '--fault', 'resend'], {
      timeout: 120_000,
    });
    expect(stdout).toContain('25 messages sent, 25 acknowledged, 0 rejected, 25 resends');
    const deviceId = (await import('../src/simulators/hl7.js')).euiOf('bed-12');
    const all = await waitFor('the simulator readings', async () => {
      const events = (await readDistinctEvents<ReadingEvent>(kafka, `${prefix}readings`, 1)).filter((e) => e.deviceId === deviceId);
      return events.length >= 25 * 7 ? events : undefined;
    }, { timeoutMs: 90_000, intervalMs: 1000 });
    expect(all).toHaveLength(25 * 7);
    const perMessage = new Map<string, number>();
    for (const e of all) perMessage.set(`${e.source} ${e.metric}`, (perMessage.get(`${e.source} ${e.metric}`) ?? 0) + 1);
    expect([...perMessage.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(all.map((e) => e.metric))).toEqual(new Set(['heart-rate', 'respiration-rate', 'spo2', 'pulse-rate', 'temperature', 'nibp-systolic', 'nibp-diastolic']));
    expect(all.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 25 * 7 }, (_, i) => i));
  });
});
