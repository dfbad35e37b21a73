/**
 * Encryption and authentication towards Kafka: the `kafka.tls` and `kafka.sasl` config blocks, the kafkajs client
 * options built from them, and the classification of failures into GW_KAFKA_TLS / GW_KAFKA_AUTH with a message
 * that says what to check. The forwarder keeps events buffered and retries whatever the failure.
 */
import type { KafkaConfig as KafkajsConfig, SASLOptions } from 'kafkajs';
import { z } from 'zod';
import { SecretRef } from '../config/primitives.js';
import { GatewayError, errorMessage, type ErrorCode } from '../errors.js';
import type { Logger } from '../util/logger.js';
import { checkClientCertificate, errorChain, isTlsError, tlsClientShape, tlsConnectionOptions } from './tls.js';

export const KafkaTlsConfig = z
  .object({
    enabled: z.boolean().default(true).describe('Connect with TLS (the brokers\' SSL or SASL_SSL listener)'),
    ...tlsClientShape,
  })
  .strict()
  .superRefine(checkClientCertificate)
  .describe('TLS to the brokers: verified against ca (or the system CAs), optional client certificate');

export const KafkaSaslConfig = z
  .object({
    mechanism: z
      .enum(['plain', 'scram-sha-256', 'scram-sha-512'])
      .describe('SASL mechanism enabled on the broker listener; plain sends the password as is, so only with tls'),
    username: z.string().min(1),
    password: SecretRef.describe('Where to read the password: {env: NAME}, {file: PATH} or {credential: NAME}'),
  })
  .strict()
  .describe('SASL authentication to the brokers');

export type KafkaTlsConfigT = z.infer<typeof KafkaTlsConfig>;
export type KafkaSaslConfigT = z.infer<typeof KafkaSaslConfig>;

/** What a Kafka client needs to reach a secured cluster (the `kafka` config block has both fields). */
export interface KafkaSecurity {
  tls?: KafkaTlsConfigT | undefined;
  sasl?: KafkaSaslConfigT | undefined;
}

/** kafkajs `ssl` and `sasl` options; reads certificates and the password now (throws GW_SECRET_MISSING). */
export function kafkajsSecurityOptions(security: KafkaSecurity | undefined): Pick<KafkajsConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkajsConfig, 'ssl' | 'sasl'> = {};
  const tls = security?.tls;
  if (tls?.enabled) out.ssl = tlsConnectionOptions(tls, 'kafka.tls');
  const sasl = security?.sasl;
  if (sasl) {
    const password = sasl.password.revealFor('kafka.sasl.password');
    out.sasl = { mechanism: sasl.mechanism, username: sasl.username, password } as SASLOptions;
  }
  return out;
}

/** Whether a failure is the broker rejecting our SASL credentials (or the handshake for the mechanism). */
function isAuthError(err: unknown): boolean {
  return errorChain(err).some((e) => {
    if (!(e instanceof Error)) return false;
    const type = (e as { type?: unknown }).type;
    return (
      e.name === 'KafkaJSSASLAuthenticationError' ||
      type === 'SASL_AUTHENTICATION_FAILED' ||
      type === 'UNSUPPORTED_SASL_MECHANISM' ||
      type === 'ILLEGAL_SASL_STATE' ||
      /SASL .*authentication failed|Authentication failed/i.test(e.message)
    );
  });
}

/**
 * A failure to connect or send, turned into a GatewayError with a stable code and what to check when it is an
 * authentication or TLS problem; undefined for other failures (broker down, timeouts), which stay as they are.
 * The message never contains the password: kafkajs does not put it in its errors, and neither do we.
 */
export function classifyKafkaError(err: unknown, security: KafkaSecurity | undefined, brokers: readonly string[]): GatewayError | undefined {
  if (err instanceof GatewayError) return err.code === 'GW_SECRET_MISSING' ? err : undefined;
  const reason = errorMessage(err);
  const at = brokers.join(',');
  let code: ErrorCode | undefined;
  let message: string | undefined;
  if (isAuthError(err)) {
    code = 'GW_KAFKA_AUTH';
    const sasl = security?.sasl;
    message = sasl
      ? `Kafka ${at} rejected SASL ${sasl.mechanism} login of user "${sasl.username}" (${reason}): check kafka.sasl.username, the password in ${sasl.password.origin}, that the broker listener enables ${sasl.mechanism.toUpperCase()} and that the user exists for it (SCRAM credentials are per mechanism)`
      : `Kafka ${at} requires authentication (${reason}): configure kafka.sasl with the mechanism of the broker listener`;
  } else if (isTlsError(err)) {
    code = 'GW_KAFKA_TLS';
    const tls = security?.tls;
    message = tls?.enabled
      ? `TLS to Kafka ${at} failed (${reason}): check that kafka.tls.ca${tls.ca ? ` (${tls.ca.origin})` : ' (unset: system CAs)'} is the CA that signed the broker certificate, that the certificate names the broker host${tls.servername ? ` or ${tls.servername}` : ''} and is valid now, and that the port is the broker's SSL/SASL_SSL listener${tls.cert ? '' : '; a broker that requires client certificates needs kafka.tls.cert and kafka.tls.key'}`
      : `TLS handshake problem with Kafka ${at} (${reason}): the port may be a TLS listener; set kafka.tls.enabled with the broker CA`;
  }
  if (code === undefined || message === undefined) return undefined;
  return new GatewayError(code, message, { cause: err });
}

/**
 * What every Kafka transport does with a failure: authentication and TLS problems get their code and hint
 * (classifyKafkaError) and are logged once per distinct failure, so a long outage does not repeat them at every retry.
 */
export class KafkaFailureExplainer {
  readonly #security: KafkaSecurity | undefined;
  readonly #brokers: readonly string[];
  readonly #logger: Logger;
  #lastLogged = '';

  constructor(security: KafkaSecurity | undefined, brokers: readonly string[], logger: Logger) {
    this.#security = security;
    this.#brokers = brokers;
    this.#logger = logger;
  }

  explain(err: unknown): unknown {
    const explained = classifyKafkaError(err, this.#security, this.#brokers);
    if (!explained) return err;
    if (explained.message !== this.#lastLogged) {
      this.#lastLogged = explained.message;
      this.#logger.error({ code: explained.code, err: explained.message }, 'kafka connection refused; events stay buffered and are retried');
    }
    return explained;
  }

  /** After a successful connect: a later failure is logged again even when it is the same. */
  connected(): void {
    this.#lastLogged = '';
  }
}
