// kafka.schemaRegistry against a real Apicurio Registry (Confluent-compatible API) and the real test Kafka:
// registration at start, refusal of an incompatible schema, the wire format read back by kcat, by a third-party
// registry-aware client and by tail, plain JSON with ce_dataschema under another subject strategy, basic auth on
// the wire, the registry away at start and while running, replay and audit, the CLI.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeEvent } from '../src/events/decode.js';
import type { ReadingEvent } from '../src/events/schema.js';
import { familySchemaText } from '../src/registry/subjects.js';
import { CLI, GatewayProcess, writeTestConfig } from './support/gateway-process.js';
import { readTopic, topicSize } from './support/kafka.js';
import { SensorPublisher } from './support/publisher.js';
import { BasicAuthGate, registryRequest, startTestRegistry, TcpRelay } from './support/registry.js';
import { TailProcess } from './support/tail.js';
import { uniqueName, waitFor } from './support/wait.js';
import { findFreePort } from '../scripts/java-service.mjs';
import type { RegistryHandle } from '../scripts/schema-registry.mjs';

const run = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { timeout: 120_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

/** Reads a topic with the third-party client kcat (-J: the value as a JSON string, bytes escaped). */
async function kcatValues(bootstrap: string, topic: string): Promise<string[]> {
  const { stdout } = await run('kcat', ['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-J'], { maxBuffer: 64 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { payload: string }).payload);
}

interface StatusBody {
  schemaRegistry: { ready: boolean; lastError: string | null; lastErrorCode: string | null; subjects: { subject: string; id: number }[] } | null;
  buffer: { pending: number };
}

async function status(port: number): Promise<StatusBody> {
  return (await (await fetch(`http://127.0.0.1:${port}/api/status`)).json()) as StatusBody;
}

describe('schema registry (real Apicurio Registry, real Kafka)', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  let registry: RegistryHandle;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    registry = await startTestRegistry();
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await registry?.stop();
  });

  function startGateway(gatewayId: string, kafkaOverrides: Record<string, unknown>, httpPort = 0) {
    const prefix = `${gatewayId}.`;
    const { file, bufferPath } = writeTestConfig({
      gatewayId,
      brokers: [kafka],
      mqttUrl,
      topicPrefix: prefix,
      kafka: kafkaOverrides,
      overrides: { http: { port: httpPort }, health: { interval: 0 } },
    });
    const gateway = new GatewayProcess(file);
    cleanups.push(() => gateway.stop());
    return { gateway, file, prefix, bufferPath };
  }

  it('registers each family at start and writes the Confluent wire format, readable by kcat, a registry-aware client, decodeEvent, audit and replay', async () => {
    const gatewayId = uniqueName('reg');
    const { gateway, file, prefix } = startGateway(gatewayId, { valueFormat: 'registry-json', schemaRegistry: { url: registry.url } });
    await gateway.started();
    const registered = gateway.logs.find((l) => l.msg === 'event schemas registered') as unknown as { subjects: { subject: string; id: number; outcome: string }[] };
    expect(registered.subjects.map((s) => s.subject)).toEqual(
      ['readings', 'alarms', 'device-status', 'gateway-health', 'deadletter'].map((t) => `${prefix}${t}-value`),
    );
    await gateway.ready();

    // What the registry holds: our schema text under <topic>-value, at BACKWARD.
    const subject = `${prefix}readings-value`;
    const latest = await registryRequest<{ id: number; schema: string; schemaType: string }>(registry.url, 'GET', `/subjects/${subject}/versions/latest`);
    expect(latest.status).toBe(200);
    expect(latest.body.schemaType).toBe('JSON');
    expect(JSON.parse(latest.body.schema)).toEqual(JSON.parse(familySchemaText('readings')));
    const readingsId = latest.body.id;
    expect(registered.subjects[0]).toMatchObject({ id: readingsId, outcome: 'registered' });
    expect((await registryRequest<{ compatibilityLevel: string }>(registry.url, 'GET', `/config/${subject}`)).body.compatibilityLevel).toBe('BACKWARD');

    const publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
    cleanups.push(() => publisher.close());
    await publisher.publishMany(`${gatewayId}/sensors`, 0, 50, 5);
    const records = await readTopic(kafka, `${prefix}readings`, 100);
    expect(records).toHaveLength(100);

    const thirdParty = new SchemaRegistry({ host: registry.url });
    for (const r of records.slice(0, 10)) {
      const bytes = r.bytes as Buffer;
      expect(bytes[0]).toBe(0);
      expect(bytes.readUInt32BE(1)).toBe(readingsId);
      expect(r.headers.ce_dataschema).toBe(`${registry.url}/schemas/ids/${readingsId}`);
      // A registry-aware client of its own fetches the schema by the id in the record and decodes the value.
      const decoded = (await thirdParty.decode(bytes)) as ReadingEvent;
      expect(decoded).toEqual(decodeEvent({ value: bytes, headers: r.headers, key: r.key }));
      expect(decoded).toMatchObject({ type: 'reading', gatewayId, id: r.headers.ce_id });
    }
    const viaKcat = await kcatValues(kafka, `${prefix}readings`);
    expect(viaKcat).toHaveLength(100);
    for (const v of viaKcat) {
      expect(v.charCodeAt(0)).toBe(0);
      expect(Buffer.from(v.slice(1, 5), 'latin1').readUInt32BE(0)).toBe(readingsId);
      expect((JSON.parse(v.slice(5)) as ReadingEvent).type).toBe('reading');
    }

    // audit reads the wire format: nothing missing, nothing duplicated.
    const audited = await cli('audit', '--brokers', kafka, '--topic', `${prefix}readings`, '--json');
    expect(audited.code, audited.stderr).toBe(0);
    expect(JSON.parse(audited.stdout)).toMatchObject({ records: 100, undecodable: { count: 0 }, complete: true, totals: { received: 100, missing: 0, duplicateIds: 0 } });

    // tail reads the wire format: the same 100 events.
    const tail = new TailProcess(['-b', kafka, '--topic', `${prefix}readings`, '--from-beginning', '--json']);
    cleanups.push(() => tail.interrupt());
    const tailed = (await tail.waitForLines(100)).map((l) => JSON.parse(l) as ReadingEvent);
    expect(new Set(tailed.map((e) => e.id))).toEqual(new Set(records.map((r) => r.headers.ce_id)));
    expect(tail.stderr).not.toMatch(/GW_EVENT_/);
    expect(await tail.interrupt()).toBe(0);

    // replay re-sends in the same format, with the same schema id (found, not registered again).
    const replayed = await cli('replay', '--config', file, '--since', '1h', '--type', 'reading', '--json');
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(JSON.parse(replayed.stdout)).toMatchObject({ sent: 100 });
    const all = await readTopic(kafka, `${prefix}readings`, 200);
    const again = all.filter((r) => r.headers.etg_replayed === '1');
    expect(again).toHaveLength(100);
    expect(again.every((r) => r.bytes?.[0] === 0 && r.bytes.readUInt32BE(1) === readingsId)).toBe(true);
    expect(new Set(again.map((r) => r.headers.ce_id))).toEqual(new Set(records.map((r) => r.headers.ce_id)));
    expect((await registryRequest<number[]>(registry.url, 'GET', `/subjects/${subject}/versions`)).body).toEqual([1]);

    // The CLI: print shows exactly what was registered, check finds it registered.
    const printed = await cli('schemas', 'print', '--config', file, '--json');
    const printedReadings = (JSON.parse(printed.stdout) as { subject: string; schema: unknown }[]).find((s) => s.subject === subject);
    expect(printedReadings?.schema).toEqual(JSON.parse(latest.body.schema));
    const checked = await cli('schemas', 'check', '--config', file);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toContain(`${subject}: registered (id ${readingsId}, version 1)`);
    expect(await gateway.stop()).toBe(0);
  });

  it('refuses to start when the registry rejects a schema as incompatible (GW_SCHEMA_INCOMPATIBLE), and schemas check/register say why', async () => {
    const gatewayId = uniqueName('incompat');
    const prefix = `${gatewayId}.`;
    // Another producer's closed schema under our alarms subject, with a field our events do not have:
    // under BACKWARD our schema cannot read its records.
    const subject = `${prefix}alarms-value`;
    const foreign = JSON.stringify({
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: { legacyAlarmCode: { type: 'integer' } },
      required: ['legacyAlarmCode'],
      additionalProperties: false,
    });
    expect((await registryRequest(registry.url, 'POST', `/subjects/${subject}/versions`, { schema: foreign, schemaType: 'JSON' })).status).toBe(200);
    expect((await registryRequest(registry.url, 'PUT', `/config/${subject}`, { compatibility: 'BACKWARD' })).status).toBe(200);

    const { gateway, file } = startGateway(gatewayId, { schemaRegistry: { url: registry.url } });
    const exit = await gateway.exited;
    expect(exit.code).toBe(1);
    const stderr = gateway.stderr.join('');
    expect(stderr).toContain('GW_SCHEMA_INCOMPATIBLE');
    expect(stderr).toContain(subject);
    expect(stderr).toContain('telemetry-gateway schemas check');
    expect(gateway.hasLog('gateway started')).toBe(false);

    const checked = await cli('schemas', 'check', '--config', file);
    expect(checked.code).toBe(1);
    expect(checked.stdout).toMatch(new RegExp(`${subject.replace(/\./g, '\\.')}: INCOMPATIBLE`));
    expect(checked.stdout).toContain(`${prefix}readings-value: not registered yet (a new subject)`);
    expect(checked.stderr).toContain('GW_SCHEMA_INCOMPATIBLE');
    const registeredCli = await cli('schemas', 'register', '--config', file);
    expect(registeredCli.code).toBe(1);
    expect(registeredCli.stderr).toContain(`GW_SCHEMA_INCOMPATIBLE: schema registry ${registry.url} refuses the event schema of ${subject}`);
    // Nothing of ours was added to the foreign subject.
    expect((await registryRequest<number[]>(registry.url, 'GET', `/subjects/${subject}/versions`)).body).toEqual([1]);
  });

  it('with plain JSON values names the schema in ce_dataschema; topic-record-name subjects; basic auth on every request, the password in no log', async () => {
    const gatewayId = uniqueName('regauth');
    const username = 'etg-producer';
    const password = `pw-${gatewayId}-not-for-logs`;
    const gate = new BasicAuthGate(registry.port, username, password);
    await gate.listen();
    cleanups.push(() => gate.close());
    const passwordFile = join(tmpdir(), `${gatewayId}.registry-password`);
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    const url = `http://127.0.0.1:${gate.port}/apis/ccompat/v7`;
    const { gateway, file, prefix } = startGateway(gatewayId, {
      schemaRegistry: { url, subjectStrategy: 'topic-record-name', auth: { username, password: { file: passwordFile } } },
    });
    await gateway.started();
    const registered = gateway.logs.find((l) => l.msg === 'event schemas registered') as unknown as { subjects: { subject: string; id: number }[] };
    const families = { readings: 'readings', alarms: 'alarms', 'device-status': 'deviceStatus', 'gateway-health': 'gatewayHealth', deadletter: 'deadLetter' };
    expect(registered.subjects.map((s) => s.subject)).toEqual(
      Object.entries(families).map(([topic, family]) => `${prefix}${topic}-io.edge-telemetry-gateway.${family}`),
    );
    await gateway.ready();

    const subject = `${prefix}readings-io.edge-telemetry-gateway.readings`;
    const latest = await registryRequest<{ id: number; schema: string }>(registry.url, 'GET', `/subjects/${subject}/versions/latest`);
    expect(latest.status).toBe(200);
    expect(JSON.parse(latest.body.schema)).toEqual(JSON.parse(familySchemaText('readings')));

    const publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
    cleanups.push(() => publisher.close());
    await publisher.publishMany(`${gatewayId}/sensors`, 0, 20, 2);
    const records = await readTopic(kafka, `${prefix}readings`, 40);
    expect(records).toHaveLength(40);
    for (const r of records) {
      // Plain JSON (no magic byte): consumers that know nothing of the registry read it as before.
      expect(r.bytes?.[0]).toBe('{'.charCodeAt(0));
      expect(r.headers.ce_dataschema).toBe(`${url}/schemas/ids/${latest.body.id}`);
      expect(decodeEvent({ value: r.bytes, headers: r.headers, key: r.key })).toMatchObject({ type: 'reading', gatewayId, id: r.headers.ce_id });
    }
    // The header's URL is where a consumer finds the schema (with credentials of its own).
    const viaHeader = await fetch(records[0]?.headers.ce_dataschema ?? '', { headers: { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` } });
    expect(viaHeader.status).toBe(200);
    expect(JSON.parse(((await viaHeader.json()) as { schema: string }).schema)).toEqual(JSON.parse(familySchemaText('readings')));

    // Every request the gateway made carried the credentials; the password itself is in no log line.
    expect(gate.requests.length).toBeGreaterThanOrEqual(10); // per subject: the level, then a lookup or registration
    expect(gate.requests.filter((r) => !r.authorized)).toEqual([]);
    expect(await gateway.stop()).toBe(0);
    expect(JSON.stringify(gateway.logs) + gateway.stderr.join('')).not.toContain(password);

    // A wrong password: refused by the registry, reported as an authentication problem, the password not shown.
    const wrong = `wrong-${password}`;
    writeFileSync(passwordFile, wrong, { mode: 0o600 });
    const refused = await cli('schemas', 'register', '--config', file);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('GW_SCHEMA_REGISTRY');
    expect(refused.stderr).toContain('401');
    expect(refused.stderr).toContain('kafka.schemaRegistry.auth');
    expect(refused.stdout + refused.stderr).not.toContain(wrong);
    expect(gate.requests.some((r) => !r.authorized)).toBe(true);
  });

  it('keeps accepting and buffering while the registry is away at start, says so, and delivers everything once it answers; a registry lost later changes nothing', async () => {
    const gatewayId = uniqueName('regdown');
    const relay = await TcpRelay.reserve(registry.port);
    cleanups.push(() => relay.close());
    const httpPort = await findFreePort();
    const url = `http://127.0.0.1:${relay.port}/apis/ccompat/v7`;
    const { gateway, prefix } = startGateway(gatewayId, { valueFormat: 'registry-json', schemaRegistry: { url, requestTimeout: '2s' } }, httpPort);
    await gateway.started();
    expect(gateway.logs.find((l) => l.msg.startsWith('schema registry not reached at start'))).toMatchObject({ code: 'GW_SCHEMA_REGISTRY' });
    await gateway.ready();

    const publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
    cleanups.push(() => publisher.close());
    await publisher.publishMany(`${gatewayId}/sensors`, 0, 20, 2);
    expect(publisher.acked.size).toBe(20); // acknowledged: committed to the buffer, registry or not

    const waiting = await waitFor('status: registry not ready, 40 pending', async () => {
      const s = await status(httpPort);
      return s.schemaRegistry?.ready === false && s.schemaRegistry.lastErrorCode === 'GW_SCHEMA_REGISTRY' && s.buffer.pending === 40 ? s : undefined;
    });
    expect(waiting.schemaRegistry?.lastError).toContain(`schema registry ${url} did not answer`);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).toMatch(/^etg_schema_registry_ready 0$/m);
    expect(await topicSize(kafka, `${prefix}readings`)).toBe(0);

    await relay.listen();
    const first = await readTopic(kafka, `${prefix}readings`, 40, 90_000);
    expect(first.every((r) => r.bytes?.[0] === 0)).toBe(true);
    const ready = await waitFor('status: registry ready', async () => ((await status(httpPort)).schemaRegistry?.ready ? status(httpPort) : undefined));
    expect(ready.schemaRegistry?.subjects.map((s) => s.subject)).toContain(`${prefix}readings-value`);

    // Registry gone again: the ids are known, delivery does not depend on it any more.
    await relay.close();
    await publisher.publishMany(`${gatewayId}/sensors`, 20, 20, 2);
    const all = await readTopic(kafka, `${prefix}readings`, 80, 90_000);
    expect(new Set(all.map((r) => r.headers.ce_id)).size).toBe(80);
    expect(await gateway.stop()).toBe(0);
  });
});
