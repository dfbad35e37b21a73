// replay: re-sends retained events from the buffer file to a real Kafka with their original ids, keys and
// headers plus etg_replayed; filters, dry run, and a run next to a live gateway on the same buffer.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KAFKA_CLIENTS } from './support/kafka-clients.js';
import { CLI, GatewayProcess, writeTestConfig } from './support/gateway-process.js';
import { readDistinctRecords, readTopic, topicSize } from './support/kafka.js';
import { SensorPublisher } from './support/publisher.js';
import { knownBuffer } from './support/replay-fixture.js';
import { uniqueName, waitFor } from './support/wait.js';
import type { ReplaySummary } from '../src/replay/replayer.js';

const run = promisify(execFile);

interface Row {
  id: string;
  device_id: string;
  type: string;
  received_at: number;
  payload: string;
}

/**
 * What the file holds, read with SQL of the test's own (not the buffer's reader that replay uses), so the expected
 * records do not come from the code under test.
 */
function rows(path: string, where = '1', ...params: (string | number)[]): Row[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(`SELECT id, device_id, type, received_at, payload FROM events WHERE ${where} ORDER BY pos`).all(...params) as Row[];
  } finally {
    db.close();
  }
}

async function replay(config: string, ...args: string[]): Promise<{ summary: ReplaySummary; stderr: string }> {
  const { stdout, stderr } = await run(process.execPath, [CLI, 'replay', '--config', config, '--json', ...args], { timeout: 120_000 });
  return { summary: JSON.parse(stdout) as ReplaySummary, stderr };
}

describe.each(KAFKA_CLIENTS)('telemetry-gateway replay (%s client)', (client) => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  it('re-sends the events of a window, delivered or not, with their original value, key, ids and headers plus etg_replayed', async () => {
    const gatewayId = uniqueName(`replay-${client}`);
    const prefix = `${gatewayId}.`;
    const fixture = await knownBuffer(gatewayId);
    const { file } = writeTestConfig({ gatewayId, brokers: [kafka], mqttUrl, topicPrefix: prefix, bufferPath: fixture.path, client });

    // The last 2 hours: the recent phase only (still pending in the buffer: replay does not care).
    const { summary, stderr } = await replay(file, '--since', '2h');
    expect(summary).toMatchObject({ dryRun: false, matched: 12, sent: 12 });
    expect(summary.byTopic).toEqual({ [`${prefix}readings`]: 10, [`${prefix}alarms`]: 1, [`${prefix}device-status`]: 1 });
    expect(stderr).toContain('replay: sending 12 events');

    const expected = rows(fixture.path, 'received_at >= ? AND type = ?', fixture.recentAt, 'reading');
    // At least once: a batch Kafka only half took (a topic still being created) is sent again; first copies count.
    const records = (await readDistinctRecords(kafka, `${prefix}readings`, 10)).distinct;
    expect(records.map((r) => r.value)).toEqual(expected.map((r) => r.payload));
    for (const [i, r] of records.entries()) {
      const row = expected[i] as Row;
      expect(r.key).toBe(row.device_id);
      expect(r.headers).toMatchObject({
        etg_replayed: '1',
        ce_id: row.id,
        ce_specversion: '1.0',
        ce_type: 'io.edge-telemetry-gateway.reading.v1',
        ce_source: `/edge-telemetry-gateway/${gatewayId}`,
        ce_subject: row.device_id,
        'content-type': 'application/json',
      });
    }
    const alarm = (await readDistinctRecords(kafka, `${prefix}alarms`, 1)).distinct;
    expect(alarm.map((r) => r.headers.ce_id)).toEqual(rows(fixture.path, 'received_at >= ? AND type = ?', fixture.recentAt, 'alarm').map((r) => r.id));

    // Everything kept: both phases (the old one was delivered long ago).
    const all = await replay(file, '--to-topic', `${prefix}everything`);
    expect(all.summary).toMatchObject({ matched: 34, sent: 34, byTopic: { [`${prefix}everything`]: 34 } });
    const everything = (await readDistinctRecords(kafka, `${prefix}everything`, 34)).distinct;
    // Per device, the original (commit) order.
    for (const device of ['dev-a', 'dev-b']) {
      const sent = everything.filter((r) => r.key === device).map((r) => r.headers.ce_id);
      expect(sent).toEqual(rows(fixture.path, 'device_id = ?', device).map((r) => r.id));
    }
  });

  it('filters by time, device and type, and --dry-run counts per topic and type without sending', async () => {
    const gatewayId = uniqueName(`replay-filter-${client}`);
    const prefix = `${gatewayId}.`;
    const fixture = await knownBuffer(gatewayId);
    const { file } = writeTestConfig({ gatewayId, brokers: [kafka], mqttUrl, topicPrefix: prefix, bufferPath: fixture.path, client });

    const dry = await replay(file, '--dry-run', '--device', 'dev-a', '--until', new Date(fixture.oldAt + 60_000).toISOString());
    expect(dry.summary).toMatchObject({
      dryRun: true,
      matched: 12,
      sent: 0,
      byTopic: { [`${prefix}readings`]: 10, [`${prefix}alarms`]: 2 },
      byType: { reading: 10, alarm: 2 },
    });
    expect(await topicSize(kafka, `${prefix}readings`)).toBe(0);
    expect(await topicSize(kafka, `${prefix}alarms`)).toBe(0);

    const target = `${prefix}filtered`;
    const { summary } = await replay(file, '--device', 'dev-a', '--type', 'reading', '--until', '2h', '--to-topic', target, '--rate', '50');
    expect(summary).toMatchObject({ matched: 10, sent: 10, byType: { reading: 10 } });
    const records = (await readDistinctRecords(kafka, target, 10)).distinct;
    expect(records.map((r) => r.headers.ce_id)).toEqual(rows(fixture.path, 'device_id = ? AND type = ? AND received_at < ?', 'dev-a', 'reading', fixture.recentAt).map((r) => r.id));

    const both = await replay(file, '--dry-run', '--device', 'dev-a', '--device', 'dev-b', '--type', 'alarm', '--type', 'device-status');
    expect(both.summary).toMatchObject({ matched: 4, byType: { alarm: 3, 'device-status': 1 } });

    // Bad arguments are usage errors naming the option.
    const bad = await run(process.execPath, [CLI, 'replay', '--config', file, '--since', 'yesterday'], { timeout: 30_000 }).catch((err: { code: number; stderr: string }) => err);
    expect(bad).toMatchObject({ code: 64 });
    expect((bad as { stderr: string }).stderr).toContain('GW_USAGE: --since "yesterday"');
  });

  it('runs while a gateway process ingests into and forwards from the same buffer', async () => {
    const gatewayId = uniqueName(`replay-live-${client}`);
    const prefix = `${gatewayId}.`;
    const fixture = await knownBuffer(gatewayId);
    const { file } = writeTestConfig({ gatewayId, brokers: [kafka], mqttUrl, topicPrefix: prefix, bufferPath: fixture.path, client });
    const gateway = new GatewayProcess(file);
    cleanups.push(() => gateway.kill());
    await gateway.ready();
    const publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
    cleanups.push(() => publisher.close());

    // The daemon writes (new messages) and forwards (the 12 pending events) while the replay reads.
    const publishing = publisher.publishMany(`${gatewayId}/sensors`, 0, 3000, 5, 100);
    const until = new Date(fixture.recentAt + 60_000).toISOString();
    const target = `${prefix}replayed`;
    const { summary } = await replay(file, '--until', until, '--to-topic', target);
    expect(summary).toMatchObject({ matched: 34, sent: 34 });
    await publishing;
    expect(publisher.acked.size).toBe(3000);
    expect((await readTopic(kafka, target, 34)).every((r) => r.headers.etg_replayed === '1')).toBe(true);

    // The daemon's own delivery is untouched: the pending fixture events and every new reading arrive once.
    await waitFor('the daemon delivered its backlog and the new readings', async () => (await topicSize(kafka, `${prefix}readings`)) >= 10 + 6000, {
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    const daemonRecords = await readTopic(kafka, `${prefix}readings`, 6010);
    expect(daemonRecords.some((r) => r.headers.etg_replayed !== undefined)).toBe(false);
    expect(await gateway.stop()).toBe(0);
  });
});
