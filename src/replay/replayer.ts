/**
 * Replay: re-sends events kept in the buffer (delivered or not) to Kafka, exactly as the forwarder sent them —
 * original value, key (deviceId) and CloudEvents headers — plus the header `etg_replayed: "1"` so consumers can
 * tell a replayed record from the first delivery. Events go out in commit (`pos`) order, one produce request in
 * flight at a time (acks -1), so per-device order within the replay is the original order.
 *
 * Replay never writes to the buffer: it does not mark anything delivered and does not touch the forwarder's
 * bookkeeping, so it is safe while the gateway runs (the daemon keeps forwarding its own backlog meanwhile).
 */
import type { z } from 'zod';
import type { TopicsConfig } from '../config/schema.js';
import { GatewayError, errorMessage } from '../errors.js';
import { REPLAYED_HEADER, RecordBuilder, RequestSizeLimit, fittingCount, isTooLarge, toTopicBatches, type CloudEventsMode } from '../forwarder/batching.js';
import { topicFor } from '../events/topics.js';
import type { KafkaTransport, TopicBatch } from '../forwarder/kafka-transport.js';
import type { RecordFormat } from '../registry/record-format.js';
import { backoffDelay } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import type { BufferReader, EventFilter, KeptEvent } from '../buffer/reader.js';

export { REPLAYED_HEADER } from '../forwarder/batching.js';

export interface ReplayProgress {
  /** Called after every acknowledged batch (and once at the start with sent = 0). */
  update(sent: number, total: number, elapsedMs: number): void;
  /** Called once at the end, before the summary is printed. */
  finish(sent: number, total: number, elapsedMs: number): void;
}

export interface ReplayOptions {
  gatewayId: string;
  topics: z.infer<typeof TopicsConfig>;
  /** Send everything to this topic instead of the per-family topics (the name is used as is, no prefix). */
  toTopic?: string;
  /** Most events per second (undefined: as fast as Kafka acknowledges). */
  ratePerSec?: number;
  maxEvents: number;
  maxBytes: number;
  /** CloudEvents mode of the replayed records (kafka.cloudEvents). */
  cloudEvents: CloudEventsMode;
  /** Count what would be sent, per topic and type; connect to nothing. */
  dryRun: boolean;
  /** Attempts per batch before giving up (with backoff between them). */
  attempts: number;
  /** The backoff between attempts: the first wait, doubled after each failure up to the second (jittered). */
  retryInitialMs: number;
  retryMaxMs: number;
  /** Schema registry value format and Connect copies, as the gateway writes them (src/registry). */
  recordFormat?: RecordFormat;
  /** Times the replay (duration, rate limit, progress); the command passes the system clock. */
  clock: Clock;
}

export interface ReplaySummary {
  dryRun: boolean;
  /** Events in the window that match the filters. */
  matched: number;
  /** Events acknowledged by Kafka (0 on a dry run). */
  sent: number;
  byTopic: Record<string, number>;
  byType: Record<string, number>;
  durationMs: number;
  eventsPerSec: number;
  /** Position of the last event sent (resume with a later --since when a replay was cut off). */
  lastPos: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Replayer {
  readonly #events: BufferReader;
  readonly #transport: KafkaTransport | undefined;
  readonly #options: ReplayOptions;
  readonly #progress: ReplayProgress;
  readonly #sizeLimit: RequestSizeLimit;
  readonly #records: RecordBuilder;

  constructor(events: BufferReader, transport: KafkaTransport | undefined, options: ReplayOptions, progress: ReplayProgress) {
    this.#events = events;
    this.#transport = transport;
    this.#options = options;
    this.#progress = progress;
    this.#sizeLimit = new RequestSizeLimit(options.maxBytes);
    this.#records = new RecordBuilder({ gatewayId: options.gatewayId, cloudEvents: options.cloudEvents });
  }

  /** The wait after failed attempt number `attempt` (1 = the first). */
  #retryWait(attempt: number): number {
    return backoffDelay({ initialMs: this.#options.retryInitialMs, maxMs: this.#options.retryMaxMs, jitter: 'equal' }, attempt - 1);
  }

  #topicOf(e: KeptEvent): string {
    return this.#options.toTopic ?? topicFor(this.#options.topics, e.family);
  }

  async run(filter: EventFilter): Promise<ReplaySummary> {
    const { clock } = this.#options;
    const started = clock.now();
    // Fix the end of the window now: events committed while the replay runs are the forwarder's business.
    const window: EventFilter = { ...filter, maxPos: Math.min(filter.maxPos ?? Number.MAX_SAFE_INTEGER, this.#events.lastPos()) };
    const counted = this.#events.count(window);
    const summary: ReplaySummary = {
      dryRun: this.#options.dryRun,
      matched: counted.total,
      sent: 0,
      byTopic: {},
      byType: {},
      durationMs: 0,
      eventsPerSec: 0,
      lastPos: 0,
    };
    if (this.#options.dryRun || counted.total === 0) {
      for (const row of counted.byFamilyAndType) {
        const topic = this.#options.toTopic ?? topicFor(this.#options.topics, row.family);
        summary.byTopic[topic] = (summary.byTopic[topic] ?? 0) + row.n;
        summary.byType[row.type] = (summary.byType[row.type] ?? 0) + row.n;
      }
      summary.durationMs = clock.now() - started;
      return summary;
    }
    const transport = this.#transport;
    if (!transport) throw new Error('replay needs a Kafka transport unless it is a dry run');

    const rate = this.#options.ratePerSec;
    // With a rate limit, batches of about a tenth of a second keep the flow smooth.
    const pageSize = rate === undefined ? this.#options.maxEvents : Math.max(1, Math.min(this.#options.maxEvents, Math.ceil(rate / 10)));
    const next = this.#events.pager(window);
    this.#progress.update(0, counted.total, 0);
    await this.#prepareFormat();
    await this.#connect(transport);
    const sendStart = clock.now();
    let carry: KeptEvent[] = [];
    let afterPos = 0;
    let exhausted = false;
    const readAhead = (): void => {
      if (carry.length >= pageSize || exhausted) return;
      const page = next(afterPos, pageSize - carry.length);
      if (page.length < pageSize - carry.length) exhausted = true;
      if (page.length > 0) afterPos = (page[page.length - 1] as KeptEvent).pos;
      carry = carry.concat(page);
    };
    try {
      readAhead();
      while (carry.length > 0) {
        const batch = this.#cut(carry);
        carry = carry.slice(batch.length);
        const sending = this.#sendWithRetry(transport, batch, summary);
        // The request is on its way: read the next page while Kafka works on it.
        try {
          readAhead();
        } catch (err) {
          await sending.catch(() => undefined);
          throw err;
        }
        await sending;
        this.#progress.update(summary.sent, counted.total, clock.now() - started);
        if (rate !== undefined) {
          const due = sendStart + (summary.sent / rate) * 1000;
          const wait = due - clock.now();
          if (wait > 0) await sleep(wait);
        }
      }
    } finally {
      await transport.close().catch(() => undefined);
    }
    summary.durationMs = clock.now() - started;
    summary.eventsPerSec = summary.durationMs > 0 ? Math.round((summary.sent * 1000) / summary.durationMs) : summary.sent;
    this.#progress.finish(summary.sent, counted.total, summary.durationMs);
    return summary;
  }

  /** The longest prefix that fits in one produce request. */
  #cut(events: readonly KeptEvent[]): KeptEvent[] {
    return events.slice(0, fittingCount(events, this.#options.maxEvents, this.#sizeLimit.maxBytes, this.#options.recordFormat));
  }

  #toTopicBatches(events: readonly KeptEvent[]): TopicBatch[] {
    return toTopicBatches(
      events,
      (e) => this.#topicOf(e),
      (e) => this.#records.build(e, REPLAYED_EXTRA),
      this.#options.recordFormat,
      // With --to-topic everything goes to that one topic, so no Connect copies are mixed in.
      { connectCopy: this.#options.toTopic === undefined },
    );
  }

  /** The schema ids, before anything is sent: a replay waits for the registry as long as it waits for Kafka. */
  async #prepareFormat(): Promise<void> {
    const format = this.#options.recordFormat;
    if (!format) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await format.prepare();
        return;
      } catch (err) {
        if ((err instanceof GatewayError && err.code === 'GW_SCHEMA_INCOMPATIBLE') || attempt >= this.#options.attempts) throw err;
        await sleep(this.#retryWait(attempt));
      }
    }
  }

  async #connect(transport: KafkaTransport): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await transport.connect();
        return;
      } catch (err) {
        if (attempt >= this.#options.attempts) {
          throw new GatewayError('GW_REPLAY_SEND', `cannot connect to Kafka after ${attempt} attempts: ${errorMessage(err)} (check kafka.brokers or --brokers)`, {
            cause: err,
          });
        }
        await transport.reset().catch(() => undefined);
        await sleep(this.#retryWait(attempt));
      }
    }
  }

  async #sendWithRetry(transport: KafkaTransport, batch: KeptEvent[], summary: ReplaySummary): Promise<void> {
    let pending = batch;
    for (let attempt = 1; ; attempt++) {
      try {
        // A refused oversized request is split; the parts keep the original order.
        const part = this.#cut(pending);
        await transport.send(this.#toTopicBatches(part));
        for (const e of part) {
          const topic = this.#topicOf(e);
          summary.byTopic[topic] = (summary.byTopic[topic] ?? 0) + 1;
          summary.byType[e.type] = (summary.byType[e.type] ?? 0) + 1;
        }
        summary.sent += part.length;
        summary.lastPos = (part[part.length - 1] as KeptEvent).pos;
        pending = pending.slice(part.length);
        if (pending.length === 0) return;
        attempt = 0;
      } catch (err) {
        if (isTooLarge(err) && this.#sizeLimit.shrink()) {
          // As after any failed send, a fresh producer: the old one may still be settling the refused batch.
          await transport.reset().catch(() => undefined);
          await this.#connect(transport);
          continue;
        }
        if (attempt >= this.#options.attempts) {
          throw new GatewayError(
            'GW_REPLAY_SEND',
            `a replay batch was not acknowledged after ${attempt} attempts: ${errorMessage(err)}; ${summary.sent} of ${summary.matched} events were sent (up to position ${summary.lastPos}); run replay again with --since to resume`,
            { cause: err },
          );
        }
        await transport.reset().catch(() => undefined);
        await sleep(this.#retryWait(attempt));
        await this.#connect(transport);
      }
    }
  }
}

const REPLAYED_EXTRA = { [REPLAYED_HEADER]: '1' } as const;
