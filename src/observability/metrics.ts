/**
 * The Prometheus registry (prom-client). Every series is set from `Figures` just before a scrape is rendered,
 * so nothing on the event path touches prom-client; only the Kafka send histogram is observed as sends happen.
 *
 * Naming: prefix `etg_` (edge telemetry gateway), base units (seconds, bytes), counters end in `_total` and
 * nothing else does. Labels are bounded: input (config), device (capped by http.maxDevices, the rest is
 * device="_other"), type/family/topic (a handful), state (five values), severity (three). Never a per-event value.
 * The process and Node.js figures keep prom-client's standard names (`process_*`, `nodejs_*`, no prefix) so stock
 * dashboards work, without its three gauges that end in `_total` (their per-type series sum to the same).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { EVENT_FAMILIES } from '../events/schema.js';
import type { InputMetric } from '../inputs/input.js';
import type { Logger } from '../util/logger.js';
import type { Figures } from './figures.js';
import { degradation } from './health.js';
import { ALARM_SEVERITIES, DEVICE_STATES, OTHER_DEVICES, type InputCounters } from './observer.js';
import type { SendObservation } from './timed-transport.js';

export const METRIC_PREFIX = 'etg_';
const NAME = /^[a-z_][a-z0-9_]*$/;
const LABEL = /^[a-z_][a-z0-9_]*$/;
/**
 * prom-client's default gauges whose names end in `_total` (a suffix that means "counter" to Prometheus and
 * OpenMetrics). nodejs_active_handles, nodejs_active_requests and nodejs_active_resources (by type) sum to them.
 */
const DEFAULT_GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

type Labels = Record<string, string>;

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #figures: Figures;
  readonly #log: Logger;
  readonly #isReady: () => boolean;
  readonly #inputMetrics = new Map<string, { metric: Counter | Gauge; labelNames: string[] }>();
  readonly #rejected = new Set<string>();

  readonly #eventsIngested: Counter;
  readonly #deadLetters: Counter;
  readonly #badReadings: Counter;
  readonly #gaps: Counter;
  readonly #missing: Counter;
  readonly #commitFailures: Counter;
  readonly #devicesTracked: Gauge;
  readonly #devicesUntracked: Gauge;
  readonly #alarmsActive: Gauge;
  readonly #pending: Gauge;
  readonly #retained: Gauge;
  readonly #fileBytes: Gauge;
  readonly #oldestAge: Gauge;
  readonly #dropped: Counter;
  readonly #bufferGaps: Counter;
  readonly #blocked: Counter;
  readonly #commits: Counter;
  readonly #committedEvents: Counter;
  readonly #full: Gauge;
  readonly #writeStalled: Gauge;
  readonly #kafkaEvents: Counter;
  readonly #kafkaBatches: Counter;
  readonly #kafkaErrors: Counter;
  readonly #kafkaConnected: Gauge;
  readonly #registryReady: Gauge;
  readonly #sendDuration: Histogram;
  readonly #ready: Gauge;
  readonly #degraded: Gauge;
  readonly #uptime: Gauge;

  /** Per-topic record counts of acknowledged sends (the transport decorator reports them). */
  readonly #sentByTopic = new Map<string, number>();

  constructor(figures: Figures, logger: Logger, isReady: () => boolean) {
    this.#figures = figures;
    this.#log = logger;
    this.#isReady = isReady;
    const registers = [this.registry];
    const counter = (name: string, help: string, labelNames: string[] = []): Counter =>
      new Counter({ name: METRIC_PREFIX + name, help, labelNames, registers });
    const gauge = (name: string, help: string, labelNames: string[] = []): Gauge =>
      new Gauge({ name: METRIC_PREFIX + name, help, labelNames, registers });

    this.#eventsIngested = counter('events_ingested_total', 'Events committed to the buffer, by input and event type', ['input', 'type']);
    this.#deadLetters = counter(
      'dead_letters_total',
      'Input that could not be decoded (decode errors), sent to the dead-letter topic; /api/status deadLetters names the source (topic, port) and reason',
      ['input'],
    );
    this.#badReadings = counter('bad_quality_readings_total', 'Readings with quality bad (invalid value sentinels, missing values)', ['input']);
    this.#gaps = counter('gaps_total', 'Gap events: statements that readings are missing', ['input']);
    this.#missing = counter('gap_missing_events_total', 'Readings known to be missing, summed over gap events', ['input']);
    this.#commitFailures = counter('ingest_commit_failures_total', 'Appends of an input whose buffer commit failed (not acknowledged upstream)', ['input']);
    this.#devicesTracked = gauge('devices_tracked', 'Devices with their own labels and status-page row (at most http.maxDevices)');
    this.#devicesUntracked = gauge('devices_untracked', 'Devices seen beyond http.maxDevices (raise it if this is not 0)');
    this.#alarmsActive = gauge('alarms_active', 'Device alarms active now (the last alarm event of each said active), by input and severity', ['input', 'severity']);
    this.#pending = gauge('buffer_pending_events', 'Committed events waiting to be sent to Kafka, by event family (0 when none: every family always has a sample)', ['family']);
    this.#retained = gauge('buffer_retained_events', 'Delivered events kept for replay (buffer.retention)');
    this.#fileBytes = gauge('buffer_file_bytes', 'Size of the SQLite buffer file');
    this.#oldestAge = gauge('buffer_oldest_pending_age_seconds', 'Age of the oldest event waiting to be sent (0 when none)');
    this.#dropped = counter('buffer_dropped_events_total', 'Events deleted by the full buffer (whenFull: drop-oldest); each is accounted for by a gap event');
    this.#bufferGaps = counter('buffer_gap_events_total', 'Gap events the buffer wrote for what it dropped');
    this.#blocked = counter('buffer_blocked_appends_total', 'Appends held back by the full buffer (whenFull: block)');
    this.#commits = counter('buffer_commits_total', 'Group commits of appended events (one transaction, one fsync with synchronous FULL each)');
    this.#committedEvents = counter('buffer_committed_events_total', 'Events committed by those group commits (divided by the commits: events per fsync)');
    this.#full = gauge('buffer_full', '1 while pending events are at buffer.maxEvents or buffer.maxBytes');
    this.#writeStalled = gauge('buffer_write_stalled', '1 while the file system refuses commits (GW_BUFFER_DISK_FULL): nothing is acknowledged upstream');
    this.#kafkaEvents = counter('kafka_sent_events_total', 'Events acknowledged by Kafka, by topic', ['topic']);
    this.#kafkaBatches = counter('kafka_sent_batches_total', 'Produce requests acknowledged by Kafka');
    this.#kafkaErrors = counter('kafka_send_errors_total', 'Produce requests that failed (retried with backoff; events stay buffered)');
    this.#kafkaConnected = gauge('kafka_connected', '1 when the forwarder is connected to Kafka');
    this.#registryReady = gauge('schema_registry_ready', '1 when the event schemas are registered (always 1 without kafka.schemaRegistry); 0: delivery waits, events stay buffered');
    this.#sendDuration = new Histogram({
      name: `${METRIC_PREFIX}kafka_send_duration_seconds`,
      help: 'Duration of one produce request until Kafka acknowledged it (acks=all), by outcome',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#ready = gauge('gateway_ready', '1 when /readyz answers 200 (buffer writable, inputs started)');
    this.#degraded = gauge('gateway_degraded', '1 while an input reports data lost beyond the gateway (e.g. the MQTT broker dropped messages); /readyz lists the problems');
    this.#uptime = gauge('gateway_uptime_seconds', 'Seconds since the gateway started');
    collectDefaultMetrics({ register: this.registry });
    for (const name of DEFAULT_GAUGES_NAMED_LIKE_COUNTERS) this.registry.removeSingleMetric(name);
  }

  /** Hook for TimedTransport. */
  observeSend(observation: SendObservation): void {
    this.#sendDuration.observe({ outcome: observation.ok ? 'ok' : 'error' }, observation.seconds);
    if (!observation.ok) return;
    for (const [topic, n] of observation.topics) this.#sentByTopic.set(topic, (this.#sentByTopic.get(topic) ?? 0) + n);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Sets every series from the current figures and renders the text exposition format. */
  async render(): Promise<string> {
    this.#update();
    return (await this.registry.metrics()) + this.#renderDeviceFamilies();
  }

  /**
   * The per-device families (up to http.maxDevices × 7 series), written directly: prom-client takes ~70 ms to
   * render 5000 labelled series on a desktop CPU (several times that on a Pi, blocking the event loop), this
   * takes a few.
   */
  #renderDeviceFamilies(): string {
    const observer = this.#figures.observer;
    const devices = observer.devices;
    const events: string[] = [];
    const states: string[] = [];
    const lastReading: string[] = [];
    for (const d of devices) {
      const base = `input="${escapeLabel(d.input)}",device="${escapeLabel(d.deviceId)}"`;
      events.push(`${METRIC_PREFIX}device_events_ingested_total{${base}} ${d.events}`);
      for (const state of DEVICE_STATES) states.push(`${METRIC_PREFIX}device_state{${base},state="${state}"} ${d.state === state ? 1 : 0}`);
      if (d.lastReadingAt !== null) lastReading.push(`${METRIC_PREFIX}device_last_reading_timestamp_seconds{${base}} ${d.lastReadingAt / 1000}`);
    }
    for (const [input, n] of observer.otherDeviceEvents) {
      events.push(`${METRIC_PREFIX}device_events_ingested_total{input="${escapeLabel(input)}",device="${OTHER_DEVICES}"} ${n}`);
    }
    return [
      family(
        'device_events_ingested_total',
        'counter',
        `Events committed to the buffer, by input and device (devices beyond http.maxDevices count as device="${OTHER_DEVICES}")`,
        events,
      ),
      family('device_state', 'gauge', 'Current device state: 1 for the state the device is in, 0 for the others', states),
      family('device_last_reading_timestamp_seconds', 'gauge', 'When the device last delivered a reading (Unix time)', lastReading),
    ].join('');
  }

  #update(): void {
    const figures = this.#figures;
    figures.declareInputDevices();
    const observer = figures.observer;
    setCounter(this.#eventsIngested, [...observer.inputs].flatMap(([input, c]) => [...c.eventsByType].map(([type, n]) => [{ input, type }, n] as const)));
    const perInput = (pick: (c: InputCounters) => number): (readonly [Labels, number])[] =>
      [...observer.inputs].map(([input, c]) => [{ input }, pick(c)] as const);
    setCounter(this.#deadLetters, perInput((c) => c.deadLetters));
    setCounter(this.#badReadings, perInput((c) => c.badReadings));
    setCounter(this.#gaps, perInput((c) => c.gaps));
    setCounter(this.#missing, perInput((c) => c.missingEvents));
    setCounter(this.#commitFailures, perInput((c) => c.commitFailures));

    this.#devicesTracked.set(observer.devices.length);
    this.#devicesUntracked.set(observer.untrackedDevices);
    this.#alarmsActive.reset();
    for (const input of figures.view.inputs()) for (const severity of ALARM_SEVERITIES) this.#alarmsActive.set({ input: input.name, severity }, 0);
    for (const alarm of observer.activeAlarms) this.#alarmsActive.inc({ input: alarm.input, severity: alarm.severity });

    const buffer = figures.buffer();
    // Every family has a sample, 0 when nothing waits: sum() and alert rules need a series to look at.
    for (const family of EVENT_FAMILIES) this.#pending.set({ family }, buffer.pendingByFamily[family] ?? 0);
    this.#retained.set(buffer.retained);
    this.#fileBytes.set(buffer.fileBytes);
    this.#oldestAge.set(buffer.oldestPendingAgeSeconds);
    setCounter(this.#dropped, [[{}, buffer.droppedEvents]]);
    setCounter(this.#bufferGaps, [[{}, buffer.gapEvents]]);
    setCounter(this.#blocked, [[{}, buffer.blockedAppends]]);
    setCounter(this.#commits, [[{}, buffer.commits]]);
    setCounter(this.#committedEvents, [[{}, buffer.committedEvents]]);
    this.#full.set(buffer.full ? 1 : 0);
    this.#writeStalled.set(figures.view.buffer()?.writeStall ? 1 : 0);

    const f = figures.forwarder();
    setCounter(this.#kafkaEvents, [...this.#sentByTopic].map(([topic, n]) => [{ topic }, n] as const));
    setCounter(this.#kafkaBatches, [[{}, f?.sentBatches ?? 0]]);
    setCounter(this.#kafkaErrors, [[{}, f?.failedSends ?? 0]]);
    this.#kafkaConnected.set(f?.connected ? 1 : 0);
    this.#registryReady.set((figures.view.schemaRegistry?.()?.ready ?? true) ? 1 : 0);
    this.#ready.set(this.#isReady() ? 1 : 0);
    this.#degraded.set(degradation(figures).status === 'degraded' ? 1 : 0);
    this.#uptime.set(Math.round(figures.uptimeSeconds));
    this.#updateInputMetrics();
  }

  /** Input-specific figures (Input.metrics()), registered on first sight as etg_<name>{input, ...}. */
  #updateInputMetrics(): void {
    for (const entry of this.#inputMetrics.values()) entry.metric.reset();
    for (const input of this.#figures.view.inputs()) {
      let metrics: InputMetric[];
      try {
        metrics = input.metrics?.() ?? [];
      } catch (err) {
        this.#rejectOnce(`${input.name}:metrics()`, `input ${input.name}: metrics() threw: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      for (const m of metrics) this.#setInputMetric(input.name, m);
    }
  }

  #setInputMetric(input: string, m: InputMetric): void {
    const labels: Labels = { ...m.labels, input };
    const labelNames = Object.keys(labels).sort();
    const name = METRIC_PREFIX + m.name;
    if (!NAME.test(m.name) || labelNames.some((l) => !LABEL.test(l)) || !Number.isFinite(m.value)) {
      this.#rejectOnce(name, `input ${input}: metric ${m.name} has an invalid name, label name or value; skipped`);
      return;
    }
    if ((m.type === 'counter') !== m.name.endsWith('_total')) {
      this.#rejectOnce(name, `input ${input}: metric ${m.name} is a ${m.type}; counters and only counters end in _total; skipped`);
      return;
    }
    let entry = this.#inputMetrics.get(name);
    if (!entry) {
      try {
        const options = { name, help: m.help, labelNames, registers: [this.registry] };
        entry = { metric: m.type === 'counter' ? new Counter(options) : new Gauge(options), labelNames };
      } catch (err) {
        // e.g. the name of a built-in series
        this.#rejectOnce(name, `input ${input}: metric ${m.name} cannot be registered: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      this.#inputMetrics.set(name, entry);
    }
    if (entry.labelNames.join(',') !== labelNames.join(',')) {
      this.#rejectOnce(`${name}{${labelNames.join(',')}}`, `input ${input}: metric ${m.name} has labels ${labelNames.join(', ')}, first seen with ${entry.labelNames.join(', ')}; skipped`);
      return;
    }
    if (entry.metric instanceof Counter) entry.metric.inc(labels, Math.max(0, m.value));
    else entry.metric.set(labels, m.value);
  }

  #rejectOnce(key: string, message: string): void {
    if (this.#rejected.has(key)) return;
    this.#rejected.add(key);
    this.#log.warn({ component: 'metrics' }, message);
  }
}

/** Label values escaped as the text format requires: backslash, double quote, line feed. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** One metric family in the text format; HELP and TYPE even without samples, like prom-client. */
function family(name: string, type: 'counter' | 'gauge', help: string, lines: readonly string[]): string {
  const header = `# HELP ${METRIC_PREFIX}${name} ${escapeHelp(help)}\n# TYPE ${METRIC_PREFIX}${name} ${type}\n`;
  return header + (lines.length > 0 ? `${lines.join('\n')}\n` : '') + '\n';
}

/** Counters mirror totals kept elsewhere: reset, then add each label set's current total. */
function setCounter(counter: Counter, rows: readonly (readonly [Labels, number])[]): void {
  counter.reset();
  for (const [labels, value] of rows) counter.inc(labels, value);
}
