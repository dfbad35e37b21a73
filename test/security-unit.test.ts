/** Pure parts of the security work: device id sanitizing, TLS config validation, failure classification. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KafkaConfig } from '../src/config/schema.js';
import { classifyMqttError } from '../src/security/mqtt-security.js';
import { isTlsError } from '../src/security/tls.js';
import { MAX_DEVICE_ID_LENGTH, sanitizeDeviceId } from '../src/util/device-id.js';

describe('sanitizeDeviceId', () => {
  it('keeps ordinary ids as they are', () => {
    for (const id of ['dev-1', 'zigbee:0x00158d0001a2b3c4', 'Küche Thermometer', 'spBv1.0/site/node/dev', '温度计']) {
      expect(sanitizeDeviceId(id)).toBe(id);
    }
  });

  it('replaces control and invisible formatting characters, trims, and caps the length', () => {
    expect(sanitizeDeviceId('dev\n{"level":60,"msg":"forged"}')).toBe('dev_{"level":60,"msg":"forged"}');
    expect(sanitizeDeviceId('a\u202Egnp.exe')).toBe('a_gnp.exe');
    expect(sanitizeDeviceId('  dev-2\t')).toBe('dev-2');
    expect(sanitizeDeviceId('x\u0000y\u001b[31m')).toBe('x_y_[31m');
    const long = sanitizeDeviceId('d'.repeat(10_000));
    expect(long.length).toBeLessThanOrEqual(MAX_DEVICE_ID_LENGTH);
    expect(long).toMatch(/^d+~[0-9a-f]{12}$/);
  });

  it('property: idempotent, bounded, no control characters or broken surrogates', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 600 }), (a) => {
        const sa = sanitizeDeviceId(a);
        expect(sanitizeDeviceId(sa)).toBe(sa);
        expect(sa.length).toBeLessThanOrEqual(MAX_DEVICE_ID_LENGTH);
        // eslint-disable-next-line no-control-regex
        expect(sa).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/);
        expect(() => Buffer.from(sa, 'utf8').toString('utf8')).not.toThrow();
        expect(sa).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
      }),
      { numRuns: 20_000, seed: 8 },
    );
  });

  it('property: printable ids longer than the cap that differ anywhere stay distinct (hash suffix)', () => {
    const long = fc.string({ minLength: MAX_DEVICE_ID_LENGTH + 1, maxLength: 400 }).map((s) => `d${s}d`);
    fc.assert(
      fc.property(long, long, (a, b) => {
        if (a !== b) expect(sanitizeDeviceId(a)).not.toBe(sanitizeDeviceId(b));
        expect(sanitizeDeviceId(a)).toMatch(/~[0-9a-f]{12}$/);
      }),
      { numRuns: 5_000, seed: 9 },
    );
  });
});

describe('kafka.tls and kafka.sasl config', () => {
  it('a client certificate needs its key', () => {
    const result = KafkaConfig.safeParse({ brokers: ['k:9093'], tls: { cert: { file: '/etc/gw/client.crt' } } });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toContain('tls.key: a client certificate needs both cert and key');
  });

  it('verification is on unless turned off explicitly; the SASL password is a secret reference, never a literal', () => {
    const parsed = KafkaConfig.parse({ brokers: ['k:9093'], tls: { ca: { file: '/etc/gw/ca.pem' } }, sasl: { mechanism: 'scram-sha-512', username: 'gw', password: { env: 'KAFKA_PW' } } });
    expect(parsed.tls?.rejectUnauthorized).toBe(true);
    expect(parsed.tls?.enabled).toBe(true);
    expect(JSON.stringify(parsed)).toContain('[redacted env:KAFKA_PW]');
    expect(KafkaConfig.safeParse({ brokers: ['k:9093'], sasl: { mechanism: 'plain', username: 'gw', password: 'literal' } }).success).toBe(false);
    expect(KafkaConfig.safeParse({ brokers: ['k:9093'], sasl: { mechanism: 'gssapi', username: 'gw', password: { env: 'X' } } }).success).toBe(false);
  });
});

describe('failure classification', () => {
  it('MQTT: refused logins (v5 and v3.1.1 codes) are GW_MQTT_AUTH, certificate failures GW_MQTT_TLS, the rest GW_MQTT_CONNECT', () => {
    const withCode = (message: string, code: unknown) => Object.assign(new Error(message), { code });
    expect(classifyMqttError(withCode('Connection refused: Bad User Name or Password', 134)).code).toBe('GW_MQTT_AUTH');
    expect(classifyMqttError(withCode('Connection refused: Not authorized', 5)).code).toBe('GW_MQTT_AUTH');
    expect(classifyMqttError(withCode('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN')).code).toBe('GW_MQTT_TLS');
    expect(classifyMqttError(withCode('connect ECONNREFUSED 127.0.0.1:8883', 'ECONNREFUSED')).code).toBe('GW_MQTT_CONNECT');
  });

  it('TLS errors are found through wrapping errors (cause, originalError)', () => {
    const inner = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect(isTlsError(new Error('Connection error', { cause: inner }))).toBe(true);
    expect(isTlsError(Object.assign(new Error('Connection error'), { originalError: inner }))).toBe(true);
    expect(isTlsError(new Error('Connection timeout'))).toBe(false);
  });
});
