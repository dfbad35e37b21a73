/**
 * The librdkafka client behind `KafkaTransport`: @confluentinc/kafka-javascript's native producer (C library,
 * its own I/O threads), idempotent with acks=all, murmur2 key partitioning as the Java client and kafkajs'
 * DefaultPartitioner. The native module is optional: it is loaded only when `kafka.client: librdkafka` is used,
 * and a missing or unloadable build is reported as GW_KAFKA_CLIENT with the command that builds it.
 *
 * A send resolves only after librdkafka reported every record of it delivered (one delivery report per record,
 * counted); any failed record rejects the whole send, which the forwarder then retries as it was.
 * Why not `delivery.report.only.error` with a flush per send (cheaper, ≈ 15 against ≈ 24 µs a record in the
 * issue's measurement): then "delivered" is inferred from a flush that returned without an error report, and a
 * flush serves every send queued at that moment, so a report missed or attributed to the wrong send would mark
 * records delivered that Kafka never acknowledged. A positive report per record keeps the buffer's delivered mark
 * a consequence of Kafka's acknowledgment of that very record.
 */
import { createRequire } from 'node:module';
import { GatewayError, errorMessage } from '../errors.js';
import { KafkaFailureExplainer, type KafkaSecurity } from '../security/kafka-security.js';
import { tlsConnectionOptions } from '../security/tls.js';
import type { Logger } from '../util/logger.js';
import { MIN_REQUEST_BYTES, TOO_LARGE } from './batching.js';
import type { KafkaTransport, TopicBatch } from './kafka-transport.js';

export type Compression = 'none' | 'gzip' | 'lz4' | 'zstd' | 'snappy';

export interface LibrdkafkaTransportOptions {
  brokers: string[];
  clientId: string;
  compression: Compression;
  connectionTimeoutMs: number;
  /** Longest time a send may take (librdkafka's message.timeout.ms: retries included). */
  requestTimeoutMs: number;
  /** kafka.batch.maxBytes: librdkafka's batch.size, and what bounds its queue. */
  maxRequestBytes: number;
  logger: Logger;
  security?: KafkaSecurity;
}

/** The package the native client comes from (an optional dependency, built by scripts/setup-librdkafka.mjs). */
export const LIBRDKAFKA_PACKAGE = '@confluentinc/kafka-javascript';
export const LIBRDKAFKA_SETUP_HINT =
  'build it with `npm run setup:librdkafka` (needs a C++ compiler and the Debian packages libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev; see docs/raspberry-pi.md), or set kafka.client: kafkajs';

type ConfigValue = string | number | boolean;

/** The slice of a librdkafka error used here. */
interface NativeError extends Error {
  code: number;
}

interface DeliveryReport {
  opaque?: unknown;
}

/** The slice of @confluentinc/kafka-javascript's native `Producer` used here. */
interface NativeProducer {
  connect(options: { timeout: number }, callback: (err: NativeError | null) => void): void;
  produce(
    topic: string,
    partition: number | null,
    message: Buffer,
    key: string,
    timestamp: number | null,
    opaque: unknown,
    headers: Record<string, string>[],
  ): unknown;
  flush(timeoutMs: number, callback: (err?: unknown) => void): unknown;
  disconnect(timeoutMs: number, callback: (err?: unknown) => void): void;
  setPollInBackground(on: boolean): unknown;
  on(event: 'delivery-report', listener: (err: NativeError | null, report: DeliveryReport) => void): unknown;
  on(event: 'event.error', listener: (err: NativeError) => void): unknown;
  on(event: 'event.log', listener: (entry: { severity: number; fac: string; message: string }) => void): unknown;
}

interface NativeModule {
  Producer: new (conf: Record<string, ConfigValue>, topicConf?: Record<string, ConfigValue>) => NativeProducer;
  librdkafkaVersion: string;
  features: string[];
}

const ERR_MSG_SIZE_TOO_LARGE = 10;
const ERR_RECORD_LIST_TOO_LARGE = 18;

let loaded: NativeModule | undefined;

/** Loads the native client once; GW_KAFKA_CLIENT with the fix when it is not installed or does not load. */
export function loadLibrdkafka(): NativeModule {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  try {
    loaded = require(LIBRDKAFKA_PACKAGE) as NativeModule;
  } catch (err) {
    const reason = errorMessage(err).split('\n')[0] ?? '';
    const missing = /Cannot find module '@confluentinc\/kafka-javascript'/.test(reason);
    throw new GatewayError(
      'GW_KAFKA_CLIENT',
      `kafka.client is librdkafka but ${missing ? `${LIBRDKAFKA_PACKAGE} is not installed` : `its native module does not load (${reason})`}: ${LIBRDKAFKA_SETUP_HINT}`,
      { cause: err },
    );
  }
  return loaded;
}

/** librdkafka's SSL/SASL properties for the kafka.tls / kafka.sasl blocks; reads the secrets now. */
export function librdkafkaSecurityConfig(security: KafkaSecurity | undefined): Record<string, ConfigValue> {
  const conf: Record<string, ConfigValue> = {};
  const tls = security?.tls?.enabled ? security.tls : undefined;
  const sasl = security?.sasl;
  conf['security.protocol'] = tls ? (sasl ? 'sasl_ssl' : 'ssl') : sasl ? 'sasl_plaintext' : 'plaintext';
  if (tls) {
    const options = tlsConnectionOptions(tls, 'kafka.tls');
    if (typeof options.ca === 'string') conf['ssl.ca.pem'] = options.ca;
    if (typeof options.cert === 'string') conf['ssl.certificate.pem'] = options.cert;
    if (typeof options.key === 'string') conf['ssl.key.pem'] = options.key;
    if (options.passphrase !== undefined) conf['ssl.key.password'] = options.passphrase;
    if (!tls.rejectUnauthorized) {
      conf['enable.ssl.certificate.verification'] = false;
      conf['ssl.endpoint.identification.algorithm'] = 'none';
    } else {
      conf['ssl.endpoint.identification.algorithm'] = 'https';
    }
  }
  if (sasl) {
    conf['sasl.mechanisms'] = sasl.mechanism.toUpperCase();
    conf['sasl.username'] = sasl.username;
    conf['sasl.password'] = sasl.password.revealFor('kafka.sasl.password');
  }
  return conf;
}

function tooLarge(message: string): Error {
  return Object.assign(new Error(message), { type: TOO_LARGE });
}

export class LibrdkafkaTransport implements KafkaTransport {
  readonly #options: LibrdkafkaTransportOptions;
  #producer: NativeProducer | undefined;
  /** librdkafka's batch.size; halved (with the forwarder's request size) after the broker refused a batch as too large. */
  #batchBytes: number;
  /**
   * The last error librdkafka reported on its own (auth, TLS, broker down), to explain a failed connect or send.
   * Its error events are only served once connected; its error-level log lines arrive during connect too.
   */
  #lastClientError: Error | undefined;
  readonly #explainer: KafkaFailureExplainer;
  /** The send in progress: its token (the records' opaque), records still unreported, and how it ends. */
  #inFlight: { token: object; left: number; failure: NativeError | undefined; done: () => void } | undefined;

  constructor(options: LibrdkafkaTransportOptions) {
    this.#options = options;
    this.#batchBytes = Math.max(MIN_REQUEST_BYTES, options.maxRequestBytes);
    this.#explainer = new KafkaFailureExplainer(options.security, options.brokers, options.logger);
  }

  #messageMaxBytes(): number {
    return Math.max(1_000_000, 2 * this.#options.maxRequestBytes + 65_536);
  }

  #config(): Record<string, ConfigValue> {
    const o = this.#options;
    const messageTimeoutMs = Math.max(1000, o.requestTimeoutMs);
    return {
      'bootstrap.servers': o.brokers.join(','),
      'client.id': o.clientId,
      // acks=all, ordered, no duplicates from librdkafka's own retries (it sets max.in.flight ≤ 5 and retries).
      'enable.idempotence': true,
      acks: -1,
      // murmur2 on the key, as the Java client and kafkajs' DefaultPartitioner: a device keeps its partition.
      partitioner: 'murmur2_random',
      'compression.codec': o.compression,
      // Per-device order: one send must reach each partition as ONE record batch, stored whole or refused whole.
      // Were it split, the idempotent producer would store a later batch after refusing an earlier one (it
      // re-sequences after a permanent error), putting a device's later events on Kafka before earlier ones.
      // So librdkafka never sends on its own timer (long linger), a batch may hold the whole send (batch.size
      // above the request size the forwarder keeps to), and send() flushes once everything is queued.
      'linger.ms': Math.min(5000, Math.floor(messageTimeoutMs / 2)),
      'batch.num.messages': 1_000_000,
      'batch.size': Math.min(2 * this.#batchBytes, this.#messageMaxBytes()),
      'message.max.bytes': this.#messageMaxBytes(),
      // One send is in flight at a time, so the queue never holds more than about one batch: bound it near that
      // instead of librdkafka's default 1 GB, so the process memory stays within budget.
      'queue.buffering.max.kbytes': Math.max(4096, Math.ceil((2 * o.maxRequestBytes) / 1024)),
      'queue.buffering.max.messages': 200_000,
      // Retries inside librdkafka end with the send: a record not acknowledged within this time fails the send,
      // and the forwarder retries it with its own backoff (the same records, so duplicates at worst).
      'message.timeout.ms': messageTimeoutMs,
      'request.timeout.ms': Math.min(messageTimeoutMs, 30_000),
      'socket.connection.setup.timeout.ms': Math.max(1000, o.connectionTimeoutMs),
      'reconnect.backoff.ms': 200,
      'reconnect.backoff.max.ms': 2000,
      'allow.auto.create.topics': true,
      'log.connection.close': false,
      // Error-level log lines only: they carry the reason of a failed connect (SSL handshake, SASL auth).
      log_level: 3,
      dr_cb: true,
      ...librdkafkaSecurityConfig(o.security),
    };
  }

  async connect(): Promise<void> {
    if (this.#producer) return;
    const native = loadLibrdkafka();
    let producer: NativeProducer;
    try {
      producer = new native.Producer(this.#config());
    } catch (err) {
      throw this.#explainer.explain(err);
    }
    this.#lastClientError = undefined;
    producer.on('event.error', (err) => {
      this.#lastClientError = err;
    });
    producer.on('event.log', (entry) => {
      if (entry.severity <= 3) {
        this.#lastClientError = new Error(entry.message.replace(/^\[thrd:[^\]]*\]: /, ''));
        this.#options.logger.debug({ component: 'librdkafka', facility: entry.fac }, entry.message);
      }
    });
    producer.on('delivery-report', (err, report) => this.#onReport(err, report));
    try {
      await new Promise<void>((resolve, reject) => {
        producer.connect({ timeout: Math.max(1000, this.#options.connectionTimeoutMs) }, (err) => (err ? reject(err) : resolve()));
      });
    } catch (err) {
      await disconnect(producer);
      // The connect error is a bare timeout; what librdkafka reported meanwhile (from its own thread) says why.
      const reason = this.#lastClientError as Error | undefined;
      throw this.#explainer.explain(reason ? new Error(`${errorMessage(err)}: ${reason.message}`, { cause: reason }) : err);
    }
    // librdkafka's own thread serves delivery reports: no poll timer on the event loop.
    producer.setPollInBackground(true);
    this.#producer = producer;
    this.#explainer.connected();
  }

  #onReport(err: NativeError | null, report: DeliveryReport): void {
    const send = this.#inFlight;
    if (!send || report.opaque !== send.token) return;
    if (err && !send.failure) send.failure = err;
    send.left -= 1;
    if (send.left === 0) send.done();
  }

  async send(batches: readonly TopicBatch[]): Promise<void> {
    const producer = this.#producer;
    if (!producer) throw new Error('kafka producer is not connected');
    if (this.#inFlight) throw new Error('a send is already in flight; the forwarder sends one batch at a time');
    let total = 0;
    for (const b of batches) total += b.messages.length;
    if (total === 0) return;
    const token = {};
    let timer: NodeJS.Timeout | undefined;
    const delivered = new Promise<NativeError | undefined>((resolve) => {
      const send = { token, left: total, failure: undefined as NativeError | undefined, done: () => resolve(send.failure) };
      this.#inFlight = send;
      // librdkafka reports every record within message.timeout.ms; this only guards against a report never coming.
      timer = setTimeout(() => resolve(Object.assign(new Error('no delivery report within message.timeout.ms'), { code: -192 })), Math.max(1000, this.#options.requestTimeoutMs) + 10_000);
    });
    try {
      for (const b of batches) {
        for (const m of b.messages) {
          const headers: Record<string, string>[] = [];
          for (const name in m.headers) headers.push({ [name]: m.headers[name] as string });
          producer.produce(b.topic, null, Buffer.from(m.value), m.key, null, token, headers);
        }
      }
      // Sends everything queued now, whatever linger.ms says; the delivery reports say how it went.
      producer.flush(Math.max(1000, this.#options.requestTimeoutMs) + 5000, () => undefined);
    } catch (err) {
      clearTimeout(timer);
      this.#inFlight = undefined;
      throw this.#failure(err as NativeError);
    }
    const failure = await delivered;
    clearTimeout(timer);
    this.#inFlight = undefined;
    if (failure) throw this.#failure(failure);
  }

  #failure(err: NativeError): unknown {
    if (err.code === ERR_MSG_SIZE_TOO_LARGE || err.code === ERR_RECORD_LIST_TOO_LARGE) {
      // librdkafka builds its own request batches up to batch.size: make them smaller for the next producer too.
      this.#batchBytes = Math.max(MIN_REQUEST_BYTES, Math.floor(this.#batchBytes / 2));
      return tooLarge(`broker refused a batch as too large: ${err.message}`);
    }
    const reason = this.#lastClientError;
    return this.#explainer.explain(reason && reason !== err ? new Error(`${err.message}: ${reason.message}`, { cause: reason }) : err);
  }


  async reset(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    this.#inFlight = undefined;
    if (producer) await disconnect(producer);
  }

  async close(): Promise<void> {
    await this.reset();
  }
}

/** How long librdkafka gets to flush (2 s) and tear its threads down before we stop waiting for it. */
const DISCONNECT_WAIT_MS = 5000;

/**
 * Disconnects, giving records still queued a short time to be delivered (a retry sends them again anyway).
 * The wait is bounded: while a TLS handshake or SASL exchange against a broker that refuses us is still under
 * way, librdkafka's teardown (which runs on libuv's thread pool) can take far longer than the flush timeout,
 * and a shutdown or a reconnect must not hang on it. An abandoned producer finishes tearing down on its own;
 * it holds no event the buffer does not still hold.
 */
function disconnect(producer: NativeProducer): Promise<void> {
  return new Promise<void>((resolve) => {
    const giveUp = setTimeout(resolve, DISCONNECT_WAIT_MS);
    giveUp.unref();
    const done = (): void => {
      clearTimeout(giveUp);
      resolve();
    };
    try {
      producer.disconnect(2000, done);
    } catch {
      done();
    }
  });
}
