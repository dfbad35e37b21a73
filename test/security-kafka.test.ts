/**
 * Kafka over TLS with SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) against a second, private broker with a SASL_SSL
 * listener and certificates made here. The gateway delivers over TLS+SCRAM; a wrong password and an untrusted
 * certificate fail with GW_KAFKA_AUTH / GW_KAFKA_TLS while the events stay buffered, and all of them arrive once
 * the configuration is fixed. Secrets fed in through every source (environment, file, systemd credential) never
 * appear in any log line, error, check-config output, metric, status page, buffer file or Kafka record.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findFreePort, startBroker, type BrokerHandle } from '../scripts/kafka-broker.mjs';
import { KafkaConfig } from '../src/config/schema.js';
import { GatewayError } from '../src/errors.js';
import { createKafkaTransport } from '../src/forwarder/create-transport.js';
import type { KafkaTransport } from '../src/forwarder/kafka-transport.js';
import { KAFKA_CLIENTS, type KafkaClient } from './support/kafka-clients.js';
import { createLogger } from '../src/util/logger.js';
import { makeTestPki, type TestPki } from './support/certs.js';
import { CLI, GatewayProcess, sensorSubscription, writeTestConfig } from './support/gateway-process.js';
import { readTopic } from './support/kafka.js';
import { SensorPublisher } from './support/publisher.js';
import { uniqueName, waitFor } from './support/wait.js';
import type { ReadingEvent } from '../src/events/schema.js';

const USERS = {
  plain: { name: 'gw-plain', password: 'plain-Secret-7f3a9' },
  'scram-sha-256': { name: 'gw-256', password: 'scram256-Secret-c41d2' },
  'scram-sha-512': { name: 'gw-512', password: 'scram512-Secret-9be07' },
} as const;
const WRONG_PASSWORD = 'wrong-Secret-0a8b1';

describe('Kafka over TLS with SASL, against a private SASL_SSL broker', () => {
  const mqttUrl = inject('mqttUrl');
  let pki: TestPki;
  let broker: BrokerHandle;
  let dataDir: string;
  let secureBootstrap: string;
  /** SSL listener that requires a client certificate signed by the test CA (mutual TLS, no SASL). */
  let mtlsBootstrap: string;

  beforeAll(async () => {
    pki = makeTestPki();
    dataDir = mkdtempSync(join(tmpdir(), 'etg-kafka-sasl-'));
    const port = await findFreePort();
    const saslPort = await findFreePort();
    secureBootstrap = `127.0.0.1:${saslPort}`;
    const sslPort = await findFreePort();
    mtlsBootstrap = `127.0.0.1:${sslPort}`;
    broker = await startBroker({
      port,
      dataDir,
      heapMb: 384,
      listeners: [
        { name: 'SASL_SSL', port: saslPort, protocol: 'SASL_SSL' },
        { name: 'SSL', port: sslPort, protocol: 'SSL' },
      ],
      scramCredentials: [
        { mechanism: 'SCRAM-SHA-256', name: USERS['scram-sha-256'].name, password: USERS['scram-sha-256'].password },
        { mechanism: 'SCRAM-SHA-512', name: USERS['scram-sha-512'].name, password: USERS['scram-sha-512'].password },
      ],
      extraProperties: {
        'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
        'listener.name.sasl_ssl.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required user_${USERS.plain.name}="${USERS.plain.password}";`,
        'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required;',
        'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required;',
        'ssl.keystore.type': 'PKCS12',
        'ssl.keystore.location': pki.serverKeystore,
        'ssl.keystore.password': pki.keystorePassword,
        'ssl.key.password': pki.keystorePassword,
        'listener.name.ssl.ssl.client.auth': 'required',
        'listener.name.ssl.ssl.truststore.type': 'PEM',
        'listener.name.ssl.ssl.truststore.location': pki.caCert,
      },
    });
  });

  afterAll(async () => {
    await broker?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** A transport of one client as the gateway builds it, from a parsed `kafka:` block; log lines are collected. */
  async function transport(client: KafkaClient, kafka: Record<string, unknown>, env: NodeJS.ProcessEnv) {
    Object.assign(process.env, env);
    const config = KafkaConfig.parse({ brokers: [secureBootstrap], connectionTimeout: '3s', requestTimeout: '10s', ...kafka, client, clientId: uniqueName('sec') });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const t = await createKafkaTransport(config, createLogger('info', sink));
    return { t, lines };
  }

  async function connectError(t: KafkaTransport): Promise<GatewayError> {
    try {
      await t.connect();
    } catch (err) {
      await t.close();
      if (err instanceof GatewayError) return err;
      throw new Error(`expected a GatewayError, got ${String(err)}`, { cause: err });
    }
    await t.close();
    throw new Error('connect() succeeded where it must fail');
  }

  for (const client of KAFKA_CLIENTS) {
    describe(`${client} client`, () => {
    for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
      it(`delivers with SASL ${mechanism} over TLS verified against the test CA`, async () => {
        const envName = `ETG_TEST_KAFKA_PW_${mechanism.replace(/-/g, '_').toUpperCase()}`;
        const { t } = await transport(
          client,
          { tls: { ca: { file: pki.caCert } }, sasl: { mechanism, username: USERS[mechanism].name, password: { env: envName } } },
          { [envName]: USERS[mechanism].password },
        );
        const topic = uniqueName(`sec-${mechanism}`);
        try {
          await t.connect();
          await t.send([{ topic, messages: [{ key: 'dev-1', value: `hello ${mechanism}`, headers: {} }] }]);
        } finally {
          await t.close();
        }
        const records = await readTopic(broker.bootstrap, topic, 1);
        expect(records.map((r) => r.value)).toEqual([`hello ${mechanism}`]);
      });
    }

    it('delivers over mutual TLS with a client certificate (SSL listener that requires one, no SASL)', async () => {
      const { t } = await transport(client, { brokers: [mtlsBootstrap], tls: { ca: { file: pki.caCert }, cert: { file: pki.clientCert }, key: { file: pki.clientKey } } }, {});
      const topic = uniqueName('sec-mtls');
      try {
        await t.connect();
        await t.send([{ topic, messages: [{ key: 'dev-1', value: 'hello mtls', headers: {} }] }]);
      } finally {
        await t.close();
      }
      const records = await readTopic(broker.bootstrap, topic, 1);
      expect(records.map((r) => r.value)).toEqual(['hello mtls']);
    });

    it('without the client certificate the SSL listener refuses the connection: GW_KAFKA_TLS hints at kafka.tls.cert/key', async () => {
      const { t } = await transport(client, { brokers: [mtlsBootstrap], tls: { ca: { file: pki.caCert } } }, {});
      let failure: unknown;
      try {
        await t.connect();
        await t.send([{ topic: uniqueName('sec-nocert'), messages: [{ key: 'k', value: 'v', headers: {} }] }]);
      } catch (err) {
        failure = err;
      } finally {
        await t.close();
      }
      // The broker answers the handshake with a bad_certificate alert.
      expect(failure).toBeInstanceOf(GatewayError);
      expect((failure as GatewayError).code).toBe('GW_KAFKA_TLS');
      expect((failure as GatewayError).message).toContain('kafka.tls.cert and kafka.tls.key');
    });

    it('a wrong password fails with GW_KAFKA_AUTH naming the user and where the password comes from, never the password', async () => {
      const { t, lines } = await transport(
          client,
        { tls: { ca: { file: pki.caCert } }, sasl: { mechanism: 'scram-sha-256', username: USERS['scram-sha-256'].name, password: { env: 'ETG_TEST_KAFKA_WRONG' } } },
        { ETG_TEST_KAFKA_WRONG: WRONG_PASSWORD },
      );
      const err = await connectError(t);
      expect(err.code).toBe('GW_KAFKA_AUTH');
      expect(err.message).toContain(`user "${USERS['scram-sha-256'].name}"`);
      expect(err.message).toContain('env:ETG_TEST_KAFKA_WRONG');
      expect(err.message).not.toContain(WRONG_PASSWORD);
      const logged = lines.map((l) => JSON.parse(l) as { code?: string; err?: string });
      expect(logged.filter((l) => l.code === 'GW_KAFKA_AUTH')).toHaveLength(1);
      expect(lines.join('\n')).not.toContain(WRONG_PASSWORD);
    });

    it('a broker certificate from another CA fails with GW_KAFKA_TLS that says which CA file to check', async () => {
      const { t } = await transport(
          client,
        { tls: { ca: { file: pki.rogueCaCert } }, sasl: { mechanism: 'plain', username: USERS.plain.name, password: { env: 'ETG_TEST_KAFKA_PLAIN' } } },
        { ETG_TEST_KAFKA_PLAIN: USERS.plain.password },
      );
      const err = await connectError(t);
      expect(err.code).toBe('GW_KAFKA_TLS');
      expect(err.message).toContain(`file:${pki.rogueCaCert}`);
      expect(err.message).not.toContain(USERS.plain.password);
    });

    it('a certificate that does not name the host expected (servername) fails with GW_KAFKA_TLS (kafkajs; librdkafka refuses servername in the config)', async () => {
      if (client === 'librdkafka') {
        const parsed = KafkaConfig.safeParse({ brokers: [secureBootstrap], client, tls: { ca: { file: pki.caCert }, servername: 'kafka.elsewhere.example' } });
        expect(parsed.success).toBe(false);
        expect(parsed.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')).toMatch(/^tls\.servername: librdkafka checks the certificate against the broker host/);
        return;
      }
      const { t } = await transport(
          client,
        { tls: { ca: { file: pki.caCert }, servername: 'kafka.elsewhere.example' }, sasl: { mechanism: 'plain', username: USERS.plain.name, password: { env: 'ETG_TEST_KAFKA_PLAIN' } } },
        { ETG_TEST_KAFKA_PLAIN: USERS.plain.password },
      );
      const err = await connectError(t);
      expect(err.code).toBe('GW_KAFKA_TLS');
      expect(err.message).toContain('kafka.elsewhere.example');
    });

    it('the gateway keeps events buffered through a wrong password and an untrusted CA, then delivers all of them once fixed', async () => {
      const gatewayId = uniqueName(`sec-gw-${client}`);
      const prefix = `${gatewayId}.`;
      const credentials = mkdtempSync(join(tmpdir(), 'etg-creds-'));
      const passwordFile = join(credentials, 'kafka-password');
      const user = USERS['scram-sha-512'];
      const config = (ca: string) =>
        writeTestConfig({
          gatewayId,
          brokers: [secureBootstrap],
          mqttUrl,
          topicPrefix: prefix,
          bufferPath: join(credentials, 'buffer.db'),
          overrides: {
            shutdown: { drainTimeout: '1s' },
            kafka: {
              client,
              brokers: [secureBootstrap],
              topics: { prefix },
              retry: { initial: '200ms', max: '1s' },
              connectionTimeout: '2s',
              requestTimeout: '10s',
              tls: { ca: { file: ca } },
              sasl: { mechanism: 'scram-sha-512', username: user.name, password: { credential: 'kafka-password' } },
            },
          },
        }).file;
      const env = { CREDENTIALS_DIRECTORY: credentials };
      const publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
      const logs: string[] = [];
      try {
        // 1. Wrong password: the broker refuses the login; MQTT messages are still taken in and committed.
        writeFileSync(passwordFile, `${WRONG_PASSWORD}\n`);
        let gateway = new GatewayProcess(config(pki.caCert), env);
        await gateway.ready();
        await publisher.publishMany(`${gatewayId}/sensors`, 0, 50, 5);
        const auth = await waitFor('GW_KAFKA_AUTH log line', () => gateway.logs.find((l) => l.code === 'GW_KAFKA_AUTH'));
        expect(String(auth.err)).toContain(`user "${user.name}"`);
        expect(String(auth.err)).toContain('credential:kafka-password');
        expect(await gateway.stop()).toBe(0);
        logs.push(...gateway.logs.map((l) => JSON.stringify(l)), ...gateway.stderr);

        // 2. Right password, but the gateway trusts another CA: the broker certificate is rejected.
        writeFileSync(passwordFile, `${user.password}\n`);
        gateway = new GatewayProcess(config(pki.rogueCaCert), env);
        await gateway.ready();
        await publisher.publishMany(`${gatewayId}/sensors`, 50, 50, 5);
        const tls = await waitFor('GW_KAFKA_TLS log line', () => gateway.logs.find((l) => l.code === 'GW_KAFKA_TLS'));
        expect(String(tls.err)).toContain(pki.rogueCaCert);
        expect(await gateway.stop()).toBe(0);
        logs.push(...gateway.logs.map((l) => JSON.stringify(l)), ...gateway.stderr);
        expect(publisher.acked.size).toBe(100);

        // 3. Fixed: everything buffered meanwhile arrives, exactly once.
        gateway = new GatewayProcess(config(pki.caCert), env);
        await gateway.started();
        const records = await readTopic(broker.bootstrap, `${prefix}readings`, 200, 90_000);
        expect(await gateway.stop()).toBe(0);
        // Operators' tools reach the secured broker the way the gateway does, from its config.
        const audit = await cli(['audit', '--config', config(pki.caCert), '--topic', `${prefix}readings`], env);
        expect(audit.output).toContain('OK: missing undeclared 0');
        expect(audit.code).toBe(0);
        expect(audit.output).not.toContain(user.password);
        logs.push(...gateway.logs.map((l) => JSON.stringify(l)), ...gateway.stderr);
        const events = records.map((r) => JSON.parse(r.value) as ReadingEvent);
        expect(new Set(events.map((e) => e.id)).size).toBe(200);
        const temperatures = events.filter((e) => e.metric === 'temperature').map((e) => e.value as number);
        expect(temperatures.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));

        const all = logs.join('\n');
        expect(all).not.toContain(WRONG_PASSWORD);
        expect(all).not.toContain(user.password);
      } finally {
        await publisher.close();
        rmSync(credentials, { recursive: true, force: true });
      }
    });
    });
  }

  /** Runs the CLI; resolves with its exit code and output whatever the code. */
  function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
        const code = err ? Number((err as { code?: unknown }).code ?? 1) : 0;
        resolve({ code, output: `${stdout}\n${stderr}` });
      });
    });
  }

  it('secrets from env, file and credential never appear in logs, errors, check-config, metrics, pages, the buffer or Kafka', async () => {
    const gatewayId = uniqueName('leak');
    const prefix = `${gatewayId}.`;
    const dir = mkdtempSync(join(tmpdir(), 'etg-leak-'));
    const user = USERS['scram-sha-512'];
    const secrets = {
      kafkaRight: user.password,
      kafkaWrong: 'leak-Wrong-Kafka-5e1f0c',
      mqtt: 'leak-Mqtt-Password-93ad27',
      http: 'leak-Http-Token-0c6b4e',
    };
    writeFileSync(join(dir, 'http-token'), `${secrets.http}\n`);
    const env = { CREDENTIALS_DIRECTORY: dir, ETG_LEAK_MQTT_PASSWORD: secrets.mqtt };
    const httpPort = await findFreePort();
    const configFor = (http: Record<string, unknown>) => {
      const { file } = writeTestConfig({
        gatewayId,
        brokers: [secureBootstrap],
        mqttUrl,
        topicPrefix: prefix,
        bufferPath: join(dir, 'buffer.db'),
        overrides: {
          shutdown: { drainTimeout: '1s' },
          kafka: {
            brokers: [secureBootstrap],
            topics: { prefix },
            retry: { initial: '200ms', max: '1s' },
            connectionTimeout: '2s',
            tls: { ca: { file: pki.caCert } },
            sasl: { mechanism: 'scram-sha-512', username: user.name, password: { credential: 'kafka-password' } },
          },
          http,
          // The suite's Mosquitto accepts any login: the password still travels through the input.
          inputs: [
            {
              type: 'mqtt',
              name: 'site',
              url: mqttUrl,
              clientId: `${gatewayId}-site`,
              username: 'gateway',
              password: { env: 'ETG_LEAK_MQTT_PASSWORD' },
              reconnect: { initial: '200ms', max: '1s' },
              subscriptions: [sensorSubscription(`${gatewayId}/sensors`)],
            },
          ],
        },
      });
      return file;
    };
    const file = configFor({ host: '127.0.0.1', port: httpPort, token: { file: join(dir, 'http-token') } });
    const outputs: { where: string; text: string }[] = [];
    const fetchAll = async (phase: string) => {
      const auth = { Authorization: `Bearer ${secrets.http}` };
      for (const path of ['/metrics', '/api/status', '/', '/healthz', '/readyz']) {
        const res = await fetch(`http://127.0.0.1:${httpPort}${path}`, { headers: auth });
        expect(res.status, `${phase} ${path}`).toBeLessThan(500);
        expect(res.status, `${phase} ${path}`).not.toBe(401);
        outputs.push({ where: `${phase} GET ${path}`, text: await res.text() });
      }
      const denied = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { headers: { Authorization: 'Bearer nope' } });
      expect(denied.status).toBe(401);
      outputs.push({ where: `${phase} GET /metrics denied`, text: `${JSON.stringify([...denied.headers])}\n${await denied.text()}` });
    };
    const gatewayOutput = (phase: string, gateway: GatewayProcess) =>
      outputs.push({ where: `${phase} gateway stdout/stderr`, text: [...gateway.logs.map((l) => JSON.stringify(l)), ...gateway.stderr].join('\n') });

    try {
      writeFileSync(join(dir, 'kafka-password'), secrets.kafkaWrong);

      // check-config: text and JSON (secrets as their origin only), and the errors it reports.
      const text = await cli(['check-config', '--config', file], env);
      expect(text.code).toBe(0);
      const json = await cli(['check-config', '--json', '--config', file], env);
      expect(json.code).toBe(0);
      expect(json.output).toContain('[redacted credential:kafka-password]');
      expect(json.output).toContain('[redacted env:ETG_LEAK_MQTT_PASSWORD]');
      const missing = await cli(['check-config', '--config', file], { CREDENTIALS_DIRECTORY: dir, ETG_LEAK_MQTT_PASSWORD: '' });
      expect(missing.code).toBe(1);
      expect(missing.output).toContain('GW_SECRET_MISSING');
      // Listening beyond loopback without a token is refused before anything starts.
      const open = await cli(['check-config', '--config', configFor({ host: '0.0.0.0', port: httpPort })], env);
      expect(open.code).toBe(1);
      expect(open.output).toMatch(/GW_CONFIG_INVALID[\s\S]*http\.token: required when host is not a loopback address/);
      outputs.push(
        { where: 'check-config', text: text.output },
        { where: 'check-config --json', text: json.output },
        { where: 'check-config secret missing', text: missing.output },
        { where: 'check-config open listener', text: open.output },
      );

      // The gateway with the wrong Kafka password: refused, buffering; metrics and pages while it fails.
      const publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
      try {
        let gateway = new GatewayProcess(file, env);
        await gateway.ready();
        await publisher.publishMany(`${gatewayId}/sensors`, 0, 5, 1);
        await waitFor('GW_KAFKA_AUTH', () => gateway.logs.find((l) => l.code === 'GW_KAFKA_AUTH'));
        await fetchAll('wrong password');
        expect(await gateway.stop()).toBe(0);
        gatewayOutput('wrong password', gateway);

        // The right password: delivered; metrics and pages again.
        writeFileSync(join(dir, 'kafka-password'), secrets.kafkaRight);
        gateway = new GatewayProcess(file, env);
        await gateway.started();
        const records = await readTopic(broker.bootstrap, `${prefix}readings`, 10);
        await fetchAll('right password');
        expect(await gateway.stop()).toBe(0);
        gatewayOutput('right password', gateway);
        outputs.push({ where: 'kafka records', text: JSON.stringify(records) });
      } finally {
        await publisher.close();
      }
      for (const suffix of ['', '-wal', '-shm']) {
        const path = join(dir, `buffer.db${suffix}`);
        if (existsSync(path)) outputs.push({ where: `buffer.db${suffix}`, text: readFileSync(path).toString('latin1') });
      }

      expect(outputs.length).toBeGreaterThan(10);
      for (const { where, text } of outputs) {
        for (const [name, value] of Object.entries(secrets)) {
          expect(text.includes(value), `${name} secret in ${where}`).toBe(false);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
