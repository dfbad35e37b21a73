/**
 * TLS client settings shared by the Kafka and MQTT connections: which CA to trust, an optional client
 * certificate, and the checks that must stay on. Certificates and keys are named like secrets (file, systemd
 * credential or environment variable) so they are read at connect time and never printed.
 */
import type { ConnectionOptions } from 'node:tls';
import { z } from 'zod';
import { SecretRef } from '../config/primitives.js';
import type { Secret } from '../util/secret.js';

const pemRef = (what: string) =>
  SecretRef.describe(`${what}, PEM: {file: PATH}, {credential: NAME} (systemd LoadCredential=) or {env: NAME}`);

/** The TLS fields common to both clients (the Kafka block adds `enabled`). */
export const tlsClientShape = {
  ca: pemRef('CA certificate(s) the server certificate must chain to; default: the system CAs').optional(),
  cert: pemRef('Client certificate for mutual TLS (with key)').optional(),
  key: pemRef('Private key of the client certificate (with cert)').optional(),
  passphrase: SecretRef.optional().describe('Passphrase of an encrypted private key'),
  servername: z
    .string()
    .min(1)
    .optional()
    .describe('Host name expected in the server certificate (SNI) when it differs from the host connected to'),
  rejectUnauthorized: z
    .boolean()
    .default(true)
    .describe('Verify the server certificate (chain and host name); false only for a lab, it allows interception'),
};

interface TlsFields {
  ca?: Secret | undefined;
  cert?: Secret | undefined;
  key?: Secret | undefined;
  passphrase?: Secret | undefined;
  servername?: string | undefined;
  rejectUnauthorized: boolean;
}

/** zod refinement: a client certificate needs its key and the other way round. */
export function checkClientCertificate(tls: TlsFields, ctx: z.RefinementCtx): void {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [tls.cert === undefined ? 'cert' : 'key'],
      message: 'a client certificate needs both cert and key',
    });
  }
}

export const TlsClientConfig = z.object(tlsClientShape).strict().superRefine(checkClientCertificate);
export type TlsClientConfigT = z.infer<typeof TlsClientConfig>;

/**
 * Node TLS options from the config, reading the certificate material now (so a renewed certificate is used on the
 * next connection after a restart or reload). `where` is the config path for error messages, e.g. `kafka.tls`.
 */
export function tlsConnectionOptions(tls: TlsFields, where: string): ConnectionOptions {
  const read = (field: 'ca' | 'cert' | 'key' | 'passphrase'): string | undefined => tls[field]?.revealFor(`${where}.${field}`);
  const options: ConnectionOptions = { rejectUnauthorized: tls.rejectUnauthorized };
  const ca = read('ca');
  const cert = read('cert');
  const key = read('key');
  const passphrase = read('passphrase');
  if (ca !== undefined) options.ca = ca;
  if (cert !== undefined) options.cert = cert;
  if (key !== undefined) options.key = key;
  if (passphrase !== undefined) options.passphrase = passphrase;
  if (tls.servername !== undefined) options.servername = tls.servername;
  return options;
}

/** OpenSSL / Node error codes of a failed certificate check or TLS handshake. */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'EPROTO',
]);

const TLS_MESSAGE = /certificate|self[- ]signed|unable to verify|wrong version number|handshake|alert|ssl routines|altnames/i;

/** Every error in a cause chain (Error.cause, kafkajs originalError), outermost first; bounded against cycles. */
export function errorChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = err;
  while (current !== undefined && current !== null && chain.length < 8 && !chain.includes(current)) {
    chain.push(current);
    const next = current as { cause?: unknown; originalError?: unknown };
    current = next.cause ?? next.originalError;
  }
  return chain;
}

/** Whether an error (or one it wraps) is a failed certificate verification or TLS handshake. */
export function isTlsError(err: unknown): boolean {
  return errorChain(err).some((e) => {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TLS_CODES.has(code)) return true;
    return e instanceof Error && TLS_MESSAGE.test(e.message);
  });
}
