// examples/postgres-sink end to end: MQTT → gateway (kafka.connect copies) → the real Kafka → a real Kafka Connect
// worker with Debezium's JDBC sink (examples/postgres-sink/connector.json) → the real PostgreSQL. N readings are
// exactly N rows by id, also after `replay` sent them all again.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectorStatus, putConnector, startConnectWorker, type ConnectWorkerHandle } from '../scripts/kafka-connect.mjs';
import { findFreePort } from '../scripts/java-service.mjs';
import { CLI, GatewayProcess, writeTestConfig } from './support/gateway-process.js';
import { readTopic, topicSize } from './support/kafka.js';
import { uniqueName, waitFor } from './support/wait.js';
import mqtt from 'mqtt';

const run = promisify(execFile);
const EXAMPLE = resolve(import.meta.dirname, '../examples/postgres-sink');

/** psql against the local PostgreSQL (127.0.0.1:5432, trust auth, as the machines of this project have it). */
async function psql(database: string, sql: string): Promise<string[][]> {
  const { stdout } = await run('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', '-AtF', '\t', '-c', sql], { timeout: 60_000 });
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

/** Whether the connector's consumer group has committed offsets up to the end of the topic. */
async function sinkCaughtUp(bootstrap: string, group: string, topic: string): Promise<boolean> {
  const admin = new Kafka({ clientId: 'sink-lag', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return ends.every((end) => {
      const c = committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
      return Number(end.high) === 0 || Number(c) >= Number(end.high);
    });
  } finally {
    await admin.disconnect();
  }
}

describe('examples/postgres-sink: Kafka Connect JDBC sink into PostgreSQL (real Connect, real PostgreSQL)', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const gatewayId = uniqueName('pgsink');
  const prefix = `${gatewayId}.`;
  const database = gatewayId.replace(/[^a-z0-9]/g, '_');
  let worker: ConnectWorkerHandle;
  let gateway: GatewayProcess;
  let configFile: string;

  beforeAll(async () => {
    const t0 = Date.now();
    worker = await startConnectWorker({ bootstrap: kafka, port: await findFreePort(), dataDir: `${process.env.TMPDIR ?? '/tmp'}/etg-connect-${gatewayId}` });
    console.log(`[connect] Kafka Connect ${worker.restUrl} up in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${worker.pid}, log ${worker.logFile})`);
    await psql('postgres', `CREATE DATABASE ${database}`);
    const written = writeTestConfig({
      gatewayId,
      brokers: [kafka],
      mqttUrl,
      topicPrefix: prefix,
      kafka: { connect: { enabled: true } },
      subscriptions: [
        {
          topic: `${gatewayId}/sensors/+`,
          qos: 1,
          deviceId: '{2}',
          metrics: [
            { field: 'temperature', metric: 'temperature', unit: 'Cel' },
            { field: 'label', metric: 'label', type: 'string' },
            { field: 'on', metric: 'switch', type: 'boolean' },
          ],
        },
      ],
    });
    configFile = written.file;
    gateway = new GatewayProcess(configFile);
    // /readyz 200 and etg_mqtt_subscribed 1 on /metrics: what is published from now on reaches the gateway.
    await gateway.ready(90_000);
  });

  afterAll(async () => {
    await gateway?.stop();
    await worker?.stop();
    await psql('postgres', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
  });

  it('loads N readings as exactly N rows by id with typed value columns, and replay adds none', async () => {
    const MESSAGES = 100; // 3 readings each: a number, a string, a boolean (every 10th temperature is null)
    const client = await mqtt.connectAsync(mqttUrl, { clientId: `${gatewayId}-pub`, protocolVersion: 5 });
    for (let i = 0; i < MESSAGES; i++) {
      const payload = { temperature: i % 10 === 0 ? null : 20 + i / 10, label: `run-${i}`, on: i % 2 === 0 };
      await client.publishAsync(`${gatewayId}/sensors/dev-${i % 4}`, JSON.stringify(payload), { qos: 1 });
    }
    await client.endAsync();
    const N = MESSAGES * 3;
    const copies = await readTopic(kafka, `${prefix}readings.connect`, N);
    const events = await readTopic(kafka, `${prefix}readings`, N);
    expect(new Set(copies.map((c) => (JSON.parse(c.value) as { payload: { id: string } }).payload.id))).toEqual(new Set(events.map((e) => e.headers.ce_id)));

    // The connector config users get, pointed at this test's topic, database and table.
    const shipped = JSON.parse(readFileSync(resolve(EXAMPLE, 'connector.json'), 'utf8')) as Record<string, string>;
    const name = `${gatewayId}-readings`;
    await putConnector(worker.restUrl, name, {
      ...shipped,
      topics: `${prefix}readings.connect`,
      'connection.url': `jdbc:postgresql://127.0.0.1:5432/${database}`,
    });
    await waitFor('connector and task RUNNING', async () => {
      const s = await connectorStatus(worker.restUrl, name);
      if (s.tasks.some((t) => t.state === 'FAILED')) throw new Error(`task failed: ${s.tasks.map((t) => t.trace ?? '').join('\n')}`);
      return s.connector.state === 'RUNNING' && s.tasks.length === 1 && s.tasks[0]?.state === 'RUNNING';
    }, { timeoutMs: 60_000 });

    const count = async (): Promise<{ rows: number; ids: number }> => {
      const [[rows, ids] = []] = await psql(database, 'SELECT count(*), count(DISTINCT id) FROM readings').catch(() => [['0', '0']]);
      return { rows: Number(rows), ids: Number(ids) };
    };
    await waitFor(`${N} rows`, async () => (await count()).rows >= N, { timeoutMs: 120_000, intervalMs: 500 });
    expect(await count()).toEqual({ rows: N, ids: N });
    const ids = (await psql(database, 'SELECT id FROM readings')).map(([id]) => id);
    expect(new Set(ids)).toEqual(new Set(events.map((e) => e.headers.ce_id)));

    // Typed columns: numbers, strings and booleans each in their own, null where the reading was bad.
    const types = await psql(database, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'readings' ORDER BY column_name");
    expect(Object.fromEntries(types)).toMatchObject({
      id: 'text',
      value_number: 'double precision',
      value_text: 'text',
      value_boolean: 'boolean',
      seq: 'bigint',
      received_at: 'timestamp with time zone',
      source_time: 'timestamp with time zone',
    });
    const byMetric = await psql(
      database,
      "SELECT metric, count(*), count(value_number), count(value_text), count(value_boolean), count(*) FILTER (WHERE quality = 'bad') FROM readings GROUP BY metric ORDER BY metric",
    );
    expect(byMetric).toEqual([
      ['label', '100', '0', '100', '0', '0'],
      ['switch', '100', '0', '0', '100', '0'],
      ['temperature', '100', '90', '0', '0', '10'],
    ]);
    const [[value, receivedAt] = []] = await psql(database, `SELECT value_number, received_at FROM readings WHERE id = '${events[1]?.headers.ce_id ?? ''}'`);
    const sent = JSON.parse(events[1]?.value ?? '{}') as { value: unknown; receivedAt: string; metric: string };
    if (sent.metric === 'temperature' && typeof sent.value === 'number') expect(Number(value)).toBe(sent.value);
    expect(new Date(receivedAt ?? '').toISOString()).toBe(sent.receivedAt);

    // replay sends every reading (and its Connect copy) again: the upsert on id keeps exactly N rows.
    const copiesBefore = await topicSize(kafka, `${prefix}readings.connect`);
    const replayed = await run(process.execPath, [CLI, 'replay', '--config', configFile, '--since', '1h', '--type', 'reading', '--json'], { timeout: 120_000 });
    expect(JSON.parse(replayed.stdout)).toMatchObject({ sent: N });
    await waitFor('the copies of the replay', async () => (await topicSize(kafka, `${prefix}readings.connect`)) >= copiesBefore + N, { timeoutMs: 60_000 });
    await waitFor('the sink consumed the replay', () => sinkCaughtUp(kafka, `connect-${name}`, `${prefix}readings.connect`), { timeoutMs: 120_000, intervalMs: 500 });
    expect(await count()).toEqual({ rows: N, ids: N });
  });
});
