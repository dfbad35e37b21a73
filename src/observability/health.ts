/**
 * Liveness (/healthz), readiness (/readyz) and the gateway-health heartbeat event.
 *
 * - Live: the process answers and its event loop is responsive (p99 of the event-loop delay over the last
 *   window stays under a limit; a loop stuck for seconds means timers, commits and acknowledgements stall).
 * - Ready: the buffer is writable and every input has started. Kafka being unreachable is normal operation
 *   (events wait in the buffer) and does not make the gateway unready; the body reports it.
 * - Degraded: running and ready, but an input knows data was lost beyond the gateway's reach (the MQTT broker
 *   dropped messages): `Input.problems()`. Reported in the /readyz body, the status page JSON, the
 *   `etg_gateway_degraded` gauge and the gateway-health event; it does not make the gateway unready (restarting
 *   or rerouting traffic would not bring anything back).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { EventDraft } from '../events/schema.js';
import type { Lifecycle } from '../util/lifecycle.js';
import type { Figures } from './figures.js';
import { DEVICE_STATES } from './observer.js';

/** p99 event-loop delay above this over the last window means "not responsive". */
export const EVENT_LOOP_LIMIT_MS = 2000;
const EVENT_LOOP_WINDOW_MS = 10_000;
/** Sampling period of the delay histogram; each sample includes it, so it is subtracted from the figures. */
const RESOLUTION_MS = 10;

export class EventLoopMonitor implements Lifecycle {
  #histogram: IntervalHistogram | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Figures of the last completed window (the histogram is reset at each window). */
  #window = { p50Ms: 0, p99Ms: 0, maxMs: 0 };

  async start(): Promise<void> {
    if (this.#histogram) return;
    const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    histogram.enable();
    this.#histogram = histogram;
    this.#timer = setInterval(() => {
      this.#window = this.#read();
      histogram.reset();
    }, EVENT_LOOP_WINDOW_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#histogram?.disable();
    this.#histogram = undefined;
  }

  #read(): { p50Ms: number; p99Ms: number; maxMs: number } {
    const h = this.#histogram;
    if (!h || h.count === 0) return { p50Ms: 0, p99Ms: 0, maxMs: 0 };
    const ms = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS);
    return { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) };
  }

  /** The worse of the last completed window and the current one. */
  get delay(): { p50Ms: number; p99Ms: number; maxMs: number } {
    const current = this.#read();
    return current.p99Ms > this.#window.p99Ms ? current : this.#window;
  }
}

export interface Liveness {
  live: boolean;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  uptimeSeconds: number;
}

export function liveness(monitor: EventLoopMonitor, figures: Figures): Liveness {
  const d = monitor.delay;
  const round = (n: number): number => Math.round(n * 10) / 10;
  return {
    live: d.p99Ms < EVENT_LOOP_LIMIT_MS,
    eventLoopDelayMs: { p50: round(d.p50Ms), p99: round(d.p99Ms), max: round(d.maxMs) },
    uptimeSeconds: Math.round(figures.uptimeSeconds),
  };
}

/** An input's problem as the gateway reports it (times as RFC 3339). */
export interface GatewayProblem {
  input: string;
  code: string;
  message: string;
  count?: number;
  since: string;
  lastSeen: string;
}

export interface Degradation {
  status: 'ok' | 'degraded';
  problems: GatewayProblem[];
}

/** What the inputs report as wrong right now (Input.problems()); `degraded` when anything is. */
export function degradation(figures: Figures): Degradation {
  const problems: GatewayProblem[] = [];
  for (const input of figures.view.inputs()) {
    let reported;
    try {
      reported = input.problems?.() ?? [];
    } catch {
      continue; // an input whose problems() throws reports none; its metrics() say more
    }
    for (const p of reported) {
      problems.push({
        input: input.name,
        code: p.code,
        message: p.message,
        ...(p.count === undefined ? {} : { count: p.count }),
        since: new Date(p.since).toISOString(),
        lastSeen: new Date(p.lastSeen).toISOString(),
      });
    }
  }
  return { status: problems.length > 0 ? 'degraded' : 'ok', problems };
}

/** Input figures marked `healthFigure` (InputMetric), summed over inputs: e.g. brokerDroppedMessages. */
function inputHealthFigures(figures: Figures): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const input of figures.view.inputs()) {
    let metrics;
    try {
      metrics = input.metrics?.() ?? [];
    } catch {
      continue;
    }
    for (const m of metrics) {
      if (m.healthFigure !== undefined && Number.isFinite(m.value)) sums[m.healthFigure] = (sums[m.healthFigure] ?? 0) + m.value;
    }
  }
  return sums;
}

export interface Readiness extends Degradation {
  ready: boolean;
  /** Why not ready; empty when ready. */
  reasons: string[];
  buffer: { writable: boolean; pending: number; error: string | null };
  inputs: { started: boolean; names: string[] };
  kafka: { connected: boolean; lastError: string | null; note: string };
}

export function readiness(figures: Figures, inputsStarted: boolean): Readiness {
  const reasons: string[] = [];
  const buffer = figures.buffer();
  const commit = figures.observer.commitFailing;
  const stall = figures.view.buffer()?.writeStall ?? null;
  const bufferError =
    buffer.error ??
    (stall ? `${stall.code}: the file system refuses commits (${stall.error}); nothing is acknowledged upstream until there is room` : null) ??
    (commit.failing ? `last commit failed: ${commit.error ?? 'unknown error'}` : null);
  if (bufferError !== null) reasons.push(`buffer not writable: ${bufferError}`);
  if (!inputsStarted) reasons.push('inputs not started (starting, reloading or stopping)');
  const f = figures.forwarder();
  const connected = f?.connected ?? false;
  return {
    ready: reasons.length === 0,
    ...degradation(figures),
    reasons,
    buffer: { writable: bufferError === null, pending: buffer.pending, error: bufferError },
    inputs: { started: inputsStarted, names: figures.view.inputs().map((i) => i.name) },
    kafka: {
      connected,
      lastError: f?.lastError ?? null,
      note: connected
        ? 'delivering'
        : 'not connected: events wait in the buffer and are sent when Kafka is reachable (this does not make the gateway unready)',
    },
  };
}

/**
 * Builds gateway-health drafts; rates are over the time since the previous one (first: since start).
 * Figure names are stable (consumers chart them); all are numbers.
 */
export class HealthReporter {
  readonly #figures: Figures;
  readonly #monitor: EventLoopMonitor;
  #previous: { t: number; inTotal: number; outTotal: number };

  constructor(figures: Figures, monitor: EventLoopMonitor) {
    this.#figures = figures;
    this.#monitor = monitor;
    this.#previous = { t: figures.startedAt, inTotal: 0, outTotal: 0 };
  }

  draft(): EventDraft {
    const figures = this.#figures;
    const now = figures.now();
    const inTotal = figures.observer.totalEvents;
    const outTotal = figures.sentEvents();
    const seconds = Math.max(0.001, (now - this.#previous.t) / 1000);
    const buffer = figures.buffer();
    const forwarder = figures.forwarder();
    let deadLetters = 0;
    let gaps = 0;
    let missingEvents = 0;
    let badReadings = 0;
    let commitFailures = 0;
    for (const c of figures.observer.inputs.values()) {
      deadLetters += c.deadLetters;
      gaps += c.gaps;
      missingEvents += c.missingEvents;
      badReadings += c.badReadings;
      commitFailures += c.commitFailures;
    }
    const byState = Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<string, number>;
    for (const d of figures.observer.devices) byState[d.state] = (byState[d.state] ?? 0) + 1;
    const round = (n: number): number => Math.round(n * 1000) / 1000;
    const { status, problems } = degradation(figures);
    const result: EventDraft = {
      type: 'gateway-health',
      deviceId: figures.view.gatewayId,
      sourceTime: null,
      receivedAt: new Date(now).toISOString(),
      uptimeSeconds: Math.round(figures.uptimeSeconds),
      status,
      problems,
      figures: {
        eventsInPerSecond: round((inTotal - this.#previous.inTotal) / seconds),
        eventsOutPerSecond: round((outTotal - this.#previous.outTotal) / seconds),
        eventsInTotal: inTotal,
        eventsOutTotal: outTotal,
        backlog: buffer.pending,
        oldestPendingAgeSeconds: round(buffer.oldestPendingAgeSeconds),
        retainedEvents: buffer.retained,
        bufferFileBytes: buffer.fileBytes,
        drops: buffer.droppedEvents,
        bufferFull: buffer.full ? 1 : 0,
        gaps: gaps + buffer.gapEvents,
        missingEvents,
        deadLetters,
        badQualityReadings: badReadings,
        commitFailures,
        kafkaConnected: forwarder?.connected ? 1 : 0,
        kafkaSendErrors: forwarder?.failedSends ?? 0,
        devicesTracked: figures.observer.devices.length,
        devicesUntracked: figures.observer.untrackedDevices,
        devicesOnline: byState.online ?? 0,
        devicesDegraded: byState.degraded ?? 0,
        devicesOffline: byState.offline ?? 0,
        devicesError: byState.error ?? 0,
        devicesUnknown: byState.unknown ?? 0,
        alarmsActive: figures.observer.activeAlarms.length,
        eventLoopDelayP99Ms: round(this.#monitor.delay.p99Ms),
        degraded: status === 'degraded' ? 1 : 0,
        ...inputHealthFigures(figures),
      },
    };
    this.#previous = { t: now, inTotal, outTotal };
    return result;
  }
}
