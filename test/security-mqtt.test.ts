/**
 * MQTT over TLS with a client certificate and username/password, against a private Mosquitto whose TLS listener
 * requires both; readings reach Kafka. Wrong credentials and an untrusted broker certificate are logged with
 * GW_MQTT_AUTH / GW_MQTT_TLS, never with the password.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, startMosquitto, type MosquittoHandle } from '../scripts/mosquitto.mjs';
import { makeTestPki, type TestPki } from './support/certs.js';
import { GatewayProcess, sensorSubscription, writeTestConfig } from './support/gateway-process.js';
import { readTopic } from './support/kafka.js';
import { SensorPublisher } from './support/publisher.js';
import { uniqueName, waitFor } from './support/wait.js';
import type { ReadingEvent } from '../src/events/schema.js';

const GATEWAY_USER = { name: 'gateway', password: 'mqtt-Gw-Secret-51c8e' };
const PUBLISHER_USER = { name: 'sensor-publisher', password: 'mqtt-Pub-Secret-2d94f' };
const WRONG_PASSWORD = 'mqtt-Wrong-Secret-e7a03';

describe('MQTT input over TLS with client certificate and password', () => {
  const kafka = inject('kafkaBootstrap');
  let pki: TestPki;
  let broker: MosquittoHandle;
  let tlsPort: number;
  let secretsDir: string;

  beforeAll(async () => {
    pki = makeTestPki();
    // Mosquitto drops root for its own user: it must be able to read the (test-only) keys and the password file.
    chmodSync(pki.dir, 0o755);
    for (const f of readdirSync(pki.dir)) chmodSync(join(pki.dir, f), 0o644);
    const passwordFile = join(pki.dir, 'mosquitto.passwd');
    execFileSync('mosquitto_passwd', ['-b', '-c', passwordFile, GATEWAY_USER.name, GATEWAY_USER.password]);
    execFileSync('mosquitto_passwd', ['-b', passwordFile, PUBLISHER_USER.name, PUBLISHER_USER.password]);
    chmodSync(passwordFile, 0o644);
    tlsPort = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'etg-mqtt-tls-'));
    chmodSync(dataDir, 0o777); // its log file, written as the mosquitto user
    broker = await startMosquitto({
      dataDir,
      extraConfig: [
        // Global (no per_listener_settings): the plain listener needs a password too.
        'allow_anonymous false',
        `password_file ${passwordFile}`,
        `listener ${tlsPort} 127.0.0.1`,
        `cafile ${pki.caCert}`,
        `certfile ${pki.serverCert}`,
        `keyfile ${pki.serverKey}`,
        'require_certificate true',
      ],
    });
    secretsDir = mkdtempSync(join(tmpdir(), 'etg-mqtt-secrets-'));
  });

  afterAll(async () => {
    await broker?.stop();
    if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
  });

  function gatewayConfig(gatewayId: string, password: string, ca: string): string {
    const passwordFile = join(secretsDir, `${gatewayId}.pw`);
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    return writeTestConfig({
      gatewayId,
      brokers: [kafka],
      mqttUrl: `mqtts://127.0.0.1:${tlsPort}`,
      topicPrefix: `${gatewayId}.`,
      overrides: {
        shutdown: { drainTimeout: '1s' },
        inputs: [
          {
            type: 'mqtt',
            name: 'secure-site',
            url: `mqtts://127.0.0.1:${tlsPort}`,
            clientId: `${gatewayId}-site`,
            username: GATEWAY_USER.name,
            password: { file: passwordFile },
            tls: { ca: { file: ca }, cert: { file: pki.clientCert }, key: { file: pki.clientKey } },
            reconnect: { initial: '200ms', max: '1s' },
            subscriptions: [sensorSubscription(`${gatewayId}/sensors`)],
          },
        ],
      },
    }).file;
  }

  function allOutput(gateway: GatewayProcess): string {
    return [...gateway.logs.map((l) => JSON.stringify(l)), ...gateway.stderr].join('\n');
  }

  it('subscribes over TLS with certificate and credentials; readings reach Kafka', async () => {
    const gatewayId = uniqueName('mqtt-tls');
    const gateway = new GatewayProcess(gatewayConfig(gatewayId, GATEWAY_USER.password, pki.caCert));
    try {
      await gateway.ready();
      const publisher = await SensorPublisher.connect(broker.url, `${gatewayId}-pub`, { username: PUBLISHER_USER.name, password: PUBLISHER_USER.password });
      try {
        await publisher.publishMany(`${gatewayId}/sensors`, 0, 20, 4);
      } finally {
        await publisher.close();
      }
      const records = await readTopic(kafka, `${gatewayId}.readings`, 40);
      const temperatures = records.map((r) => JSON.parse(r.value) as ReadingEvent).filter((e) => e.metric === 'temperature');
      expect(temperatures.map((e) => e.value as number).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    } finally {
      expect(await gateway.stop()).toBe(0);
    }
    expect(allOutput(gateway)).not.toContain(GATEWAY_USER.password);
  });

  it('a wrong password is logged as GW_MQTT_AUTH with what to check, and retried', async () => {
    const gatewayId = uniqueName('mqtt-badpw');
    const gateway = new GatewayProcess(gatewayConfig(gatewayId, WRONG_PASSWORD, pki.caCert));
    try {
      await gateway.started();
      const line = await waitFor('GW_MQTT_AUTH log line', () => gateway.logs.find((l) => l.code === 'GW_MQTT_AUTH'));
      expect(String(line.err)).toMatch(/Bad User Name or Password|Not authorized/);
      expect(String(line.hint)).toContain('password');
      // Retried with backoff, not given up: the broker logs a second refused attempt.
      // (Mosquitto names the refused client <unknown>; only this test logs in with a wrong password.)
      await waitFor('a second refused login', () => (broker.logTail().match(/disconnected, not authorised/g) ?? []).length >= 2);
    } finally {
      expect(await gateway.stop()).toBe(0);
    }
    expect(allOutput(gateway)).not.toContain(WRONG_PASSWORD);
  });

  it('a broker certificate the configured CA did not sign is logged as GW_MQTT_TLS', async () => {
    const gatewayId = uniqueName('mqtt-badca');
    const gateway = new GatewayProcess(gatewayConfig(gatewayId, GATEWAY_USER.password, pki.rogueCaCert));
    try {
      await gateway.started();
      const line = await waitFor('GW_MQTT_TLS log line', () => gateway.logs.find((l) => l.code === 'GW_MQTT_TLS'));
      expect(String(line.hint)).toContain('tls.ca');
    } finally {
      expect(await gateway.stop()).toBe(0);
    }
    expect(allOutput(gateway)).not.toContain(GATEWAY_USER.password);
  });
});
