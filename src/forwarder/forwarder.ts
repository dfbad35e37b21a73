/**
 * The forwarder: the only reader of the buffer that sends. It takes the oldest pending events (highest priority
 * first), sends them as one produce request with one batch per topic (acks -1, idempotent producer), and marks
 * them delivered only when Kafka acknowledged them. One request is in flight at a time and a failed batch is
 * retried as it was before anything newer is read, so per-device order on every topic is kept. While Kafka is
 * unreachable it retries with exponential backoff and the backlog waits in the buffer.
 */
import type { TopicsConfig } from '../config/schema.js';
import { GatewayError, errorMessage } from '../errors.js';
import type { StoredEvent } from '../buffer/sqlite-buffer.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import type { Lifecycle } from '../util/lifecycle.js';
import type { Logger } from '../util/logger.js';
import type { z } from 'zod';
import type { KafkaTransport, TopicBatch } from './kafka-transport.js';
import { BACKLOG_HEADER, RecordBuilder, RequestSizeLimit, fittingCount, isTooLarge, recordBytes, toTopicBatches, type CloudEventsMode } from './batching.js';
import { topicFor } from '../events/topics.js';
import type { RecordFormat } from '../registry/record-format.js';

export interface ForwarderSource {
  readonly pendingCount: number;
  readPending(limit: number): StoredEvent[];
  readPendingLiveFirst(limit: number, liveWindowMs: number, backlogShare: number): StoredEvent[];
  markDelivered(events: readonly { pos: number; payload: string }[]): void;
  onCommit(listener: () => void): () => void;
}

export interface ForwarderOptions {
  gatewayId: string;
  topics: z.infer<typeof TopicsConfig>;
  maxEvents: number;
  maxBytes: number;
  /**
   * Adaptive lingering: a send starts at once when none started within the last lingerMs (idle: no added
   * latency); otherwise it waits until lingerMs after the previous one started, so a busy stream is grouped into
   * at most one request per lingerMs instead of one per event.
   */
  lingerMs: number;
  cloudEvents: CloudEventsMode;
  retryInitialMs: number;
  retryMaxMs: number;
  drain: { mode: 'oldest-first' | 'live-first'; liveWindow: number; backlogShare: number };
  /** Schema registry value format and Connect copies (src/registry); records go out as built without it. */
  recordFormat?: RecordFormat;
  /**
   * How long stop() keeps sending what is buffered before it closes the transport (shutdown.drainTimeout); what
   * is left then stays pending in the buffer for the next start.
   */
  drainDeadlineMs: number;
  /** The gateway's clock (the buffer's): the drain deadline and lingering read it. */
  clock: Clock;
}

export interface ForwarderStats {
  sentEvents: number;
  sentBatches: number;
  failedSends: number;
  connected: boolean;
  lastError: string | null;
}

export { BACKLOG_HEADER, cloudEventHeaders } from './batching.js';

/** A wait that ends early when woken (new events, stop). */
class Waker {
  #wake: (() => void) | undefined;

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  wake(): void {
    this.#wake?.();
  }
}

export class Forwarder implements Lifecycle {
  readonly #source: ForwarderSource;
  readonly #transport: KafkaTransport;
  readonly #options: ForwarderOptions;
  readonly #log: Logger;
  readonly #waker = new Waker();
  #running = false;
  #loop: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;
  #drainUntil: number | undefined;
  #connected = false;
  /** Lowered after the broker refused a batch as too large (its message.max.bytes is below our maxBytes). */
  readonly #sizeLimit: RequestSizeLimit;
  readonly #records: RecordBuilder;
  /** kafka.retry: the wait after a failed send (the attempt is counted in the send loop, for its log lines too). */
  readonly #retry: BackoffPolicy;
  /** When the last send started (0: never), for adaptive lingering. */
  #lastSendAt = 0;
  #lingering = false;
  /** Average estimated record size of the last batch read (0: none yet), to size the next read. */
  #eventBytes = 0;
  #stats: ForwarderStats = { sentEvents: 0, sentBatches: 0, failedSends: 0, connected: false, lastError: null };

  constructor(source: ForwarderSource, transport: KafkaTransport, options: ForwarderOptions, logger: Logger) {
    this.#source = source;
    this.#transport = transport;
    this.#options = options;
    this.#log = logger.child({ component: 'forwarder' });
    this.#sizeLimit = new RequestSizeLimit(options.maxBytes);
    this.#records = new RecordBuilder({ gatewayId: options.gatewayId, cloudEvents: options.cloudEvents });
    this.#retry = { initialMs: options.retryInitialMs, maxMs: options.retryMaxMs, jitter: 'equal' };
  }

  get stats(): ForwarderStats {
    return { ...this.#stats, connected: this.#connected };
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#unsubscribe = this.#source.onCommit(() => this.#onCommit());
    this.#loop = this.#run();
  }

  /**
   * Keeps sending until the buffer is empty or the drain deadline (options.drainDeadlineMs) passes, then closes
   * the transport. Whatever is left stays pending in the buffer for the next start; a send cut off by the
   * deadline is simply sent again then (same event ids).
   */
  async stop(): Promise<void> {
    if (!this.#running) return;
    const { drainDeadlineMs } = this.#options;
    this.#drainUntil = this.#options.clock.now() + drainDeadlineMs;
    this.#waker.wake();
    const deadline = new Promise<'deadline'>((resolve) => {
      const timer = setTimeout(() => resolve('deadline'), drainDeadlineMs + 250);
      timer.unref();
    });
    const outcome = await Promise.race([this.#loop?.then(() => 'drained' as const), deadline]);
    this.#running = false;
    this.#waker.wake();
    this.#unsubscribe?.();
    if (outcome === 'deadline') this.#log.warn({ pending: this.#source.pendingCount }, 'drain deadline reached; the rest stays buffered');
    await this.#transport.close().catch(() => undefined);
  }

  #draining(): boolean {
    return this.#drainUntil !== undefined;
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (this.#running) {
      if (this.#draining() && (this.#source.pendingCount === 0 || this.#options.clock.now() >= (this.#drainUntil ?? 0))) return;
      if (this.#source.pendingCount === 0) {
        await this.#waker.wait(1000);
        continue;
      }
      const lingerLeft = this.#lastSendAt + this.#options.lingerMs - this.#options.clock.now();
      if (!this.#draining() && lingerLeft > 0 && this.#source.pendingCount < this.#options.maxEvents) {
        await this.#lingerFor(lingerLeft);
        if (!this.#running) return;
      }
      this.#lastSendAt = this.#options.clock.now();
      const events = this.#takeBatch();
      if (events.length === 0) {
        await this.#waker.wait(1000);
        continue;
      }
      try {
        if (!this.#connected) {
          await this.#transport.connect();
          this.#connected = true;
          this.#log.info('kafka connected');
        }
        // Registry hook: rejects while the schema ids are unknown; handled like a failed send (events stay buffered).
        await this.#options.recordFormat?.prepare();
        await this.#transport.send(this.#toTopicBatches(events));
        if (!this.#running) return; // stopped meanwhile: the buffer may be closed; these are sent again later
        this.#source.markDelivered(events);
        this.#stats.sentEvents += events.length;
        this.#stats.sentBatches += 1;
        if (attempt > 0) this.#log.info({ afterAttempts: attempt }, 'kafka delivery resumed');
        attempt = 0;
        this.#stats.lastError = null;
      } catch (err) {
        this.#stats.failedSends += 1;
        if (isTooLarge(err) && this.#sizeLimit.shrink()) {
          this.#log.warn({ maxBytes: this.#sizeLimit.maxBytes }, 'broker refused a batch as too large; sending smaller batches (raise message.max.bytes or lower kafka.batch.maxBytes)');
        }
        this.#stats.lastError = errorMessage(err);
        const code = err instanceof GatewayError ? err.code : 'GW_KAFKA_SEND';
        if (code === 'GW_SCHEMA_REGISTRY' || code === 'GW_SCHEMA_INCOMPATIBLE') {
          // Kafka itself was not the problem: keep the connection, wait for the registry.
          if (attempt % 10 === 0) {
            this.#log.warn({ code, err: errorMessage(err), pending: this.#source.pendingCount, attempt }, 'schema registry not ready; events stay buffered');
          }
          attempt += 1;
          if (this.#draining()) return;
          await this.#waker.wait(backoffDelay(this.#retry, attempt));
          continue;
        }
        this.#connected = false;
        await this.#transport.reset().catch(() => undefined);
        const delay = backoffDelay(this.#retry, attempt);
        // First failure and then every 10th: a long outage should not flood the journal.
        if (attempt % 10 === 0) {
          this.#log.warn(
            { code: 'GW_KAFKA_SEND', err: errorMessage(err), pending: this.#source.pendingCount, retryInMs: delay, attempt },
            'kafka send failed; events stay buffered',
          );
        }
        attempt += 1;
        if (this.#draining()) return;
        await this.#waker.wait(delay);
      }
    }
  }

  #takeBatch(): StoredEvent[] {
    const { drain } = this.#options;
    // Read about as many events as fit in maxBytes rather than maxEvents and then cutting: with typical readings
    // (~550 bytes each) 5,000 rows read meant 1,600 sent, and the rows read for nothing were the forwarder's
    // largest cost while draining a backlog.
    const maxBytes = this.#sizeLimit.maxBytes;
    const fitting = this.#eventBytes > 0 ? Math.ceil((maxBytes / this.#eventBytes) * 1.1) + 8 : this.#options.maxEvents;
    const limit = Math.max(1, Math.min(this.#options.maxEvents, fitting));
    const events =
      drain.mode === 'live-first'
        ? this.#source.readPendingLiveFirst(limit, drain.liveWindow, drain.backlogShare)
        : this.#source.readPending(limit);
    const format = this.#options.recordFormat;
    const count = fittingCount(events, events.length, maxBytes, format);
    let bytes = 0;
    for (let i = 0; i < Math.min(events.length, count + 1); i++) bytes += recordBytes(events[i] as StoredEvent, format);
    if (events.length > 0) this.#eventBytes = bytes / Math.min(events.length, count + 1);
    return count < events.length ? events.slice(0, count) : events;
  }

  #toTopicBatches(events: readonly StoredEvent[]): TopicBatch[] {
    const { topics } = this.#options;
    return toTopicBatches(
      events,
      (e) => topicFor(topics, e.family),
      (e) => this.#records.build(e, e.backlog ? BACKLOG_EXTRA : undefined),
      this.#options.recordFormat,
    );
  }

  /** Waits out the rest of the linger period; a batch that fills up meanwhile (or stop()) ends it early. */
  async #lingerFor(ms: number): Promise<void> {
    this.#lingering = true;
    try {
      await this.#waker.wait(ms);
    } finally {
      this.#lingering = false;
    }
  }

  #onCommit(): void {
    // While lingering, a commit wakes the loop only when it filled a batch: no timer churn per commit.
    if (!this.#lingering || this.#source.pendingCount >= this.#options.maxEvents) this.#waker.wake();
  }
}

const BACKLOG_EXTRA = { [BACKLOG_HEADER]: '1' } as const;
