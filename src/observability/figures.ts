/**
 * One place that gathers the gateway's figures for /metrics, the status page and gateway-health events: the
 * observer's counters, the buffer's statistics (SQL counts, cached for a second so a busy scraper or many open
 * pages cost one query set per second) and the forwarder's counters, plus a 15-minute history sampled every few
 * seconds for the status page charts.
 *
 * The backlog has one source: the buffer's own count of committed, undelivered events (`pendingCount`, the same
 * number its SQL count gives). The card shows it now; the chart shows, per history point, its mean and its peak
 * over the interval, sampled several times a second at varying moments. A single reading every 5 s would lock
 * onto the inputs' rhythm: devices report on whole seconds, so it kept catching the few hundred milliseconds in
 * which a second's readings wait for their send, and drew a steady backlog of 13 while every event waited < 0.4 s.
 */
import type { RegistryState } from '../registry/record-format.js';
import type { BufferStats } from '../buffer/sqlite-buffer.js';
import type { ForwarderStats } from '../forwarder/forwarder.js';
import type { Input } from '../inputs/input.js';
import type { Clock } from '../util/clock.js';
import type { Lifecycle } from '../util/lifecycle.js';
import type { EventObserver } from './observer.js';

/** The slice of the buffer observability reads. */
export interface BufferView {
  readonly pendingCount: number;
  stats(): BufferStats;
  /** Totals of the bounded buffer (drops under drop-oldest, the gap events it wrote, appends held under block). */
  readonly counters?: {
    readonly droppedEvents: number;
    readonly gapEvents: number;
    readonly blockedAppends: number;
    readonly commits?: number;
    readonly committedEvents?: number;
  };
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
  /** Mean number of pending events over the interval ending at t. */
  backlog: number;
  /** Highest number of pending events seen in that interval. */
  backlogMax: number;
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
  /** Group commits (transactions of appended events) since start, and the events they committed: events per fsync. */
  commits: number;
  committedEvents: number;
  full: boolean;
  /** Why the statistics could not be read (buffer closed, disk error), else null. */
  error: string | null;
}

export const HISTORY_SAMPLE_MS = 5000;
export const HISTORY_WINDOW_MS = 15 * 60_000;
const BUFFER_STATS_MAX_AGE_MS = 1000;
/** Backlog readings between history points are this far apart on average, each moved by up to ±40 %. */
export const BACKLOG_SAMPLE_MS = 250;

export class Figures implements Lifecycle {
  readonly view: GatewayView;
  readonly observer: EventObserver;
  readonly #clock: Clock;
  readonly startedAt: number;
  #bufferCache: { at: number; figures: BufferFigures } | undefined;
  readonly #history: HistoryPoint[] = [];
  #last: { t: number; inTotal: number; outTotal: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #backlogTimer: NodeJS.Timeout | undefined;
  /** Backlog readings since the last history point. */
  #backlog = { sum: 0, count: 0, max: 0 };
  readonly #random: () => number;

  /** `random` places the backlog readings (tests pass a fixed sequence). */
  constructor(view: GatewayView, observer: EventObserver, clock: Clock, random: () => number = Math.random) {
    this.view = view;
    this.observer = observer;
    this.#clock = clock;
    this.#random = random;
    this.startedAt = clock.now();
  }

  now(): number {
    return this.#clock.now();
  }

  async start(): Promise<void> {
    if (this.#timer) return;
    this.sample();
    this.#timer = setInterval(() => this.sample(), HISTORY_SAMPLE_MS);
    this.#timer.unref();
    this.#scheduleBacklogReading();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#backlogTimer);
    this.#timer = undefined;
    this.#backlogTimer = undefined;
  }

  /** The next backlog reading at a varying distance, so the readings never lock onto a periodic input. */
  #scheduleBacklogReading(): void {
    const delay = BACKLOG_SAMPLE_MS * (0.6 + 0.8 * this.#random());
    this.#backlogTimer = setTimeout(() => {
      this.readBacklog();
      this.#scheduleBacklogReading();
    }, delay);
    this.#backlogTimer.unref();
  }

  /** Events committed and not yet delivered, now (the buffer's own count; 0 without a buffer). */
  pendingNow(): number {
    return this.view.buffer()?.pendingCount ?? 0;
  }

  /** One backlog reading towards the next history point's mean and peak (called several times a second). */
  readBacklog(): void {
    const pending = this.pendingNow();
    this.#backlog.sum += pending;
    this.#backlog.count += 1;
    if (pending > this.#backlog.max) this.#backlog.max = pending;
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
      commits: buffer?.counters?.commits ?? 0,
      committedEvents: buffer?.counters?.committedEvents ?? 0,
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
    // The interval's readings and the one at its end: a steady backlog gives that number, a stream that is sent
    // within a fraction of a second gives a small mean and its peak.
    this.readBacklog();
    const backlog = this.#backlog;
    this.#backlog = { sum: 0, count: 0, max: 0 };
    if (this.#last && t > this.#last.t) {
      const seconds = (t - this.#last.t) / 1000;
      this.#history.push({
        t,
        inPerSecond: Math.max(0, (inTotal - this.#last.inTotal) / seconds),
        outPerSecond: Math.max(0, (outTotal - this.#last.outTotal) / seconds),
        backlog: Math.round((backlog.sum / backlog.count) * 10) / 10,
        backlogMax: backlog.max,
      });
      while (this.#history.length > 0 && (this.#history[0] as HistoryPoint).t < t - HISTORY_WINDOW_MS) this.#history.shift();
    }
    this.#last = { t, inTotal, outTotal };
  }

  get history(): readonly HistoryPoint[] {
    return this.#history;
  }
}
