/**
 * One place that gathers the gateway's figures for /metrics, the status page and gateway-health events: the
 * observer's counters, the buffer's statistics (SQL counts, cached for a second so a busy scraper or many open
 * pages cost one query set per second) and the forwarder's counters, plus a 15-minute history sampled every few
 * seconds for the status page charts.
 */
import type { RegistryState } from '../registry/record-format.js';
import type { BufferStats } from '../buffer/sqlite-buffer.js';
import type { ForwarderStats } from '../forwarder/forwarder.js';
import type { Input } from '../inputs/input.js';
import type { Clock } from '../util/clock.js';
import type { EventObserver } from './observer.js';

/** The slice of the buffer observability reads. */
export interface BufferView {
  readonly pendingCount: number;
  stats(): BufferStats;
  /** Totals of the bounded buffer (drops under drop-oldest, the gap events it wrote, appends held under block). */
  readonly counters?: { readonly droppedEvents: number; readonly gapEvents: number; readonly blockedAppends: number };
  /** True while pending events are at the buffer's limit. */
  readonly isFull?: boolean;
  /** Non-null while the file system refuses commits (disk full). */
  readonly writeStall?: { readonly code: string; readonly error: string; readonly since: number } | null;
}

/** The slice of the forwarder observability reads. */
export interface ForwarderView {
  readonly stats: ForwarderStats;
}

/** What the gateway lends to observability; getters because reload may replace the parts. */
export interface GatewayView {
  gatewayId: string;
  buffer(): BufferView | undefined;
  forwarder(): ForwarderView | undefined;
  inputs(): readonly Input[];
  /** Schema registry state (src/registry), when kafka.schemaRegistry or kafka.connect is configured. */
  schemaRegistry?(): RegistryState | undefined;
}

export interface HistoryPoint {
  /** Gateway clock, ms. */
  t: number;
  inPerSecond: number;
  outPerSecond: number;
  backlog: number;
}

export interface BufferFigures {
  pending: number;
  pendingByFamily: Record<string, number>;
  retained: number;
  fileBytes: number;
  oldestPendingAgeSeconds: number;
  /** Events the buffer deleted to stay within its limit (each accounted for by a gap event). */
  droppedEvents: number;
  /** Gap events the buffer wrote for what it dropped. */
  gapEvents: number;
  blockedAppends: number;
  full: boolean;
  /** Why the statistics could not be read (buffer closed, disk error), else null. */
  error: string | null;
}

export const HISTORY_SAMPLE_MS = 5000;
export const HISTORY_WINDOW_MS = 15 * 60_000;
const BUFFER_STATS_MAX_AGE_MS = 1000;

export class Figures {
  readonly view: GatewayView;
  readonly observer: EventObserver;
  readonly #clock: Clock;
  readonly startedAt: number;
  #bufferCache: { at: number; figures: BufferFigures } | undefined;
  readonly #history: HistoryPoint[] = [];
  #last: { t: number; inTotal: number; outTotal: number } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(view: GatewayView, observer: EventObserver, clock: Clock) {
    this.view = view;
    this.observer = observer;
    this.#clock = clock;
    this.startedAt = clock.now();
  }

  now(): number {
    return this.#clock.now();
  }

  start(): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), HISTORY_SAMPLE_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  get uptimeSeconds(): number {
    return (this.#clock.now() - this.startedAt) / 1000;
  }

  forwarder(): ForwarderStats | undefined {
    return this.view.forwarder()?.stats;
  }

  sentEvents(): number {
    return this.forwarder()?.sentEvents ?? 0;
  }

  buffer(): BufferFigures {
    const now = this.#clock.now();
    if (this.#bufferCache && now - this.#bufferCache.at < BUFFER_STATS_MAX_AGE_MS) return this.#bufferCache.figures;
    const figures = this.#readBuffer(now);
    this.#bufferCache = { at: now, figures };
    return figures;
  }

  #readBuffer(now: number): BufferFigures {
    const buffer = this.view.buffer();
    const counters = {
      droppedEvents: buffer?.counters?.droppedEvents ?? 0,
      gapEvents: buffer?.counters?.gapEvents ?? 0,
      blockedAppends: buffer?.counters?.blockedAppends ?? 0,
      full: buffer?.isFull ?? false,
    };
    const empty = { pending: 0, pendingByFamily: {}, retained: 0, fileBytes: 0, oldestPendingAgeSeconds: 0, ...counters };
    if (!buffer) return { ...empty, error: 'buffer not open' };
    try {
      const s = buffer.stats();
      return {
        ...counters,
        pending: s.pending,
        pendingByFamily: s.pendingByFamily,
        retained: s.retained,
        fileBytes: s.fileBytes,
        oldestPendingAgeSeconds: s.oldestPendingAt === null ? 0 : Math.max(0, (now - s.oldestPendingAt) / 1000),
        error: null,
      };
    } catch (err) {
      return { ...empty, pending: buffer.pendingCount, error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Lists devices inputs know from their config (Input.devices()); inputs may be replaced by a reload. */
  declareInputDevices(): void {
    for (const input of this.view.inputs()) {
      try {
        const ids = input.devices?.();
        if (ids) this.observer.declareDevices(input.name, ids);
      } catch {
        // an input that cannot list its devices still shows those that send data
      }
    }
  }

  /** Appends a history point and updates per-device rates; called every HISTORY_SAMPLE_MS. */
  sample(): void {
    this.declareInputDevices();
    const t = this.#clock.now();
    const inTotal = this.observer.totalEvents;
    const outTotal = this.sentEvents();
    this.observer.sample();
    if (this.#last && t > this.#last.t) {
      const seconds = (t - this.#last.t) / 1000;
      this.#history.push({
        t,
        inPerSecond: Math.max(0, (inTotal - this.#last.inTotal) / seconds),
        outPerSecond: Math.max(0, (outTotal - this.#last.outTotal) / seconds),
        backlog: this.view.buffer()?.pendingCount ?? 0,
      });
      while (this.#history.length > 0 && (this.#history[0] as HistoryPoint).t < t - HISTORY_WINDOW_MS) this.#history.shift();
    }
    this.#last = { t, inTotal, outTotal };
  }

  get history(): readonly HistoryPoint[] {
    return this.#history;
  }
}
