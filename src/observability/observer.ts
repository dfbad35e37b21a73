/**
 * Watches the event stream instead of instrumenting every input: each input gets its own decorating IngestSink
 * that sees every draft it hands to the buffer. From the drafts alone it keeps per-input counters, a bounded
 * table of devices (state from device-status drafts, the latest value of each metric and its age, events/s), the
 * alarms active right now, and where dead letters came from (input, source, reason). Counters are plain numbers
 * here; metrics.ts turns them into Prometheus series at scrape time, so the hot path stays a few Map operations
 * per draft.
 */
import type { EventDraft, Quality, ReadingValue } from '../events/schema.js';
import type { IngestSink } from '../inputs/input.js';
import type { Clock } from '../util/clock.js';

export type DeviceState = 'online' | 'degraded' | 'offline' | 'error' | 'unknown';
export const DEVICE_STATES: readonly DeviceState[] = ['online', 'degraded', 'offline', 'error', 'unknown'];

/** Label value of everything beyond the device cap. */
export const OTHER_DEVICES = '_other';

/** Metrics kept per device (latest value each); a device with more shows the first ones and counts the rest. */
export const MAX_METRICS_PER_DEVICE = 64;
/** Active alarms kept; beyond, new ones are counted (alarmsUntracked) and still delivered to Kafka as always. */
export const MAX_ACTIVE_ALARMS = 1000;
/** Dead-letter sources (input + topic, port or request) kept; the least recently seen one makes room. */
export const MAX_DEAD_LETTER_SOURCES = 100;

export const ALARM_SEVERITIES = ['high', 'medium', 'low'] as const;
export type AlarmSeverity = (typeof ALARM_SEVERITIES)[number];

/** The latest value of one metric of a device. */
export interface LatestValue {
  value: ReadingValue;
  unit: string | null;
  quality: Quality;
  /** When it arrived (gateway clock, ms). */
  at: number;
}

/** An alarm whose last event said `active` (an alarm event saying `cleared` removes it). */
export interface ActiveAlarm {
  input: string;
  deviceId: string;
  alarm: string;
  severity: AlarmSeverity;
  message: string;
  metric: string | null;
  value: ReadingValue;
  /** When it became active (gateway clock, ms); a repeated `active` keeps it. */
  since: number;
  /** When an event last said it is active. */
  lastSeen: number;
}

/** Dead letters of one source: where undecodable data came from and why it was refused. */
export interface DeadLetterSource {
  input: string;
  /** MQTT topic, serial port, Modbus request or MLLP peer (the dead-letter event's `source`). */
  source: string;
  /** The device id the input gave them (often the topic level of a device that has no row: it never decoded). */
  deviceId: string;
  count: number;
  lastReason: string;
  firstSeen: number;
  lastSeen: number;
}

export interface DeviceRecord {
  deviceId: string;
  input: string;
  state: DeviceState;
  reason: string;
  /** When the state last changed (gateway clock, ms). */
  stateSince: number;
  lastReadingAt: number | null;
  /** Latest value per metric, in the order the metrics first arrived (at most MAX_METRICS_PER_DEVICE). */
  metrics: Map<string, LatestValue>;
  /** Metrics not kept because the device has more than MAX_METRICS_PER_DEVICE. */
  metricsUntracked: number;
  /** Committed events of any type. */
  events: number;
  badReadings: number;
  deadLetters: number;
  /** Events per second over the last sampling interval (see sample()). */
  eventsPerSecond: number;
  /** events at the previous sample. */
  eventsAtSample: number;
}

export interface InputCounters {
  /** Committed events by type. */
  eventsByType: Map<string, number>;
  deadLetters: number;
  badReadings: number;
  gaps: number;
  /** Sum of the `count` of gap events: readings known to be missing. */
  missingEvents: number;
  commitFailures: number;
  /** Events handed over and not yet committed or failed. */
  inFlight: number;
  /** A commit of this input failed and none succeeded since. */
  lastCommitFailed: boolean;
  lastCommitError: string | null;
}

export interface ObserverOptions {
  maxDevices: number;
  clock: Clock;
}

export class EventObserver {
  readonly #options: ObserverOptions;
  readonly #devices = new Map<string, DeviceRecord>();
  readonly #inputs = new Map<string, InputCounters>();
  /** Committed events of devices beyond the cap, by input. */
  readonly #otherEvents = new Map<string, number>();
  readonly #untracked = new Set<string>();
  #untrackedOverflow = 0;
  /** Active alarms by `deviceId \0 alarm`. */
  readonly #alarms = new Map<string, ActiveAlarm>();
  #alarmsUntracked = 0;
  /** By `input \0 source`, least recently seen first (an update moves the entry to the end). */
  readonly #deadLetterSources = new Map<string, DeadLetterSource>();
  #deadLetterSourcesDropped = 0;
  #lastSampleAt: number;

  constructor(options: ObserverOptions) {
    this.#options = options;
    this.#lastSampleAt = options.clock.now();
  }

  get maxDevices(): number {
    return this.#options.maxDevices;
  }

  /** An IngestSink that passes everything to `inner` and records what `input` handed over and what committed. */
  sinkFor(input: string, inner: IngestSink): IngestSink {
    this.#countersOf(input);
    return {
      append: (drafts, receipt) => {
        const counters = this.#countersOf(input);
        counters.inFlight += drafts.length;
        this.#observeDrafts(input, drafts);
        return inner.append(drafts, receipt).then(
          () => {
            counters.inFlight -= drafts.length;
            counters.lastCommitFailed = false;
            this.#committed(input, counters, drafts);
          },
          (err: unknown) => {
            counters.inFlight -= drafts.length;
            counters.commitFailures += 1;
            counters.lastCommitFailed = true;
            counters.lastCommitError = err instanceof Error ? err.message : String(err);
            throw err;
          },
        );
      },
      flush: () => inner.flush(),
    };
  }

  /** Devices an input knows from its config: listed (state unknown) before they send anything. */
  declareDevices(input: string, deviceIds: readonly string[]): void {
    for (const id of deviceIds) this.#deviceFor(input, id);
  }

  get devices(): readonly DeviceRecord[] {
    return [...this.#devices.values()];
  }

  get inputs(): ReadonlyMap<string, InputCounters> {
    return this.#inputs;
  }

  /** Committed events of devices beyond the cap, by input (exported as device="_other"). */
  get otherDeviceEvents(): ReadonlyMap<string, number> {
    return this.#otherEvents;
  }

  /** Alarms active now, most severe first, then the oldest first. */
  get activeAlarms(): ActiveAlarm[] {
    const rank = (s: AlarmSeverity): number => ALARM_SEVERITIES.indexOf(s);
    return [...this.#alarms.values()].sort((a, b) => rank(a.severity) - rank(b.severity) || a.since - b.since);
  }

  /** Alarm activations not kept since start because MAX_ACTIVE_ALARMS were active already (they may have cleared since). */
  get alarmsUntracked(): number {
    return this.#alarmsUntracked;
  }

  /** Where the dead letters came from, most recent first. */
  get deadLetterSources(): DeadLetterSource[] {
    return [...this.#deadLetterSources.values()].reverse();
  }

  /** Sources forgotten to stay within MAX_DEAD_LETTER_SOURCES (their dead letters still count per input). */
  get deadLetterSourcesDropped(): number {
    return this.#deadLetterSourcesDropped;
  }

  /** Distinct devices not tracked because of the cap (counting stops at 100 000). */
  get untrackedDevices(): number {
    return this.#untracked.size + this.#untrackedOverflow;
  }

  /** Total committed events of every input. */
  get totalEvents(): number {
    let total = 0;
    for (const c of this.#inputs.values()) for (const n of c.eventsByType.values()) total += n;
    return total;
  }

  /** True when the most recent commit of any input failed (and none of that input succeeded since). */
  get commitFailing(): { failing: boolean; error: string | null } {
    for (const [, c] of this.#inputs) if (c.lastCommitFailed) return { failing: true, error: c.lastCommitError };
    return { failing: false, error: null };
  }

  /** Updates each device's events/s from the counts since the previous call. */
  sample(): void {
    const now = this.#options.clock.now();
    const seconds = (now - this.#lastSampleAt) / 1000;
    if (seconds <= 0) return;
    for (const d of this.#devices.values()) {
      d.eventsPerSecond = (d.events - d.eventsAtSample) / seconds;
      d.eventsAtSample = d.events;
    }
    this.#lastSampleAt = now;
  }

  #countersOf(input: string): InputCounters {
    let c = this.#inputs.get(input);
    if (!c) {
      c = {
        eventsByType: new Map(),
        deadLetters: 0,
        badReadings: 0,
        gaps: 0,
        missingEvents: 0,
        commitFailures: 0,
        inFlight: 0,
        lastCommitFailed: false,
        lastCommitError: null,
      };
      this.#inputs.set(input, c);
    }
    return c;
  }

  /** The device's record, created while under the cap; undefined beyond it. */
  #deviceFor(input: string, deviceId: string): DeviceRecord | undefined {
    const existing = this.#devices.get(deviceId);
    if (existing) return existing;
    if (this.#devices.size >= this.#options.maxDevices) {
      if (this.#untracked.size < 100_000) this.#untracked.add(deviceId);
      else if (!this.#untracked.has(deviceId)) this.#untrackedOverflow += 1;
      return undefined;
    }
    const record: DeviceRecord = {
      deviceId,
      input,
      state: 'unknown',
      reason: 'no data yet',
      stateSince: this.#options.clock.now(),
      lastReadingAt: null,
      metrics: new Map(),
      metricsUntracked: 0,
      events: 0,
      badReadings: 0,
      deadLetters: 0,
      eventsPerSecond: 0,
      eventsAtSample: 0,
    };
    this.#devices.set(deviceId, record);
    return record;
  }

  /** State, latest values and alarms, as soon as an input hands them over (before the commit: the page shows what arrives). */
  #observeDrafts(input: string, drafts: readonly EventDraft[]): void {
    const now = this.#options.clock.now();
    for (const draft of drafts) {
      // Dead letters never create a device (their ids come from undecodable input); they are traced by source.
      if (draft.type === 'dead-letter') continue;
      const device = this.#deviceFor(input, draft.deviceId);
      // Alarms are kept even for devices beyond the cap: nobody should miss one on the page.
      if (draft.type === 'alarm') this.#observeAlarm(input, draft, now);
      if (!device) continue;
      if (draft.type === 'device-status') {
        if (device.state !== draft.status) device.stateSince = now;
        device.state = draft.status;
        device.reason = draft.reason;
      } else if (draft.type === 'reading') {
        device.lastReadingAt = now;
        const latest = device.metrics.get(draft.metric);
        if (latest) {
          latest.value = draft.value;
          latest.unit = draft.unit;
          latest.quality = draft.quality;
          latest.at = now;
        } else if (device.metrics.size < MAX_METRICS_PER_DEVICE) {
          device.metrics.set(draft.metric, { value: draft.value, unit: draft.unit, quality: draft.quality, at: now });
        } else {
          device.metricsUntracked += 1;
        }
        if (device.state === 'unknown') {
          // Devices whose input reports no status (most MQTT sensors) count as online once they deliver.
          device.state = 'online';
          device.reason = 'delivering readings';
          device.stateSince = now;
        }
      }
    }
  }

  #observeAlarm(input: string, draft: Extract<EventDraft, { type: 'alarm' }>, now: number): void {
    const key = `${draft.deviceId}\u0000${draft.alarm}`;
    if (draft.state === 'cleared') {
      this.#alarms.delete(key);
      return;
    }
    const existing = this.#alarms.get(key);
    if (!existing && this.#alarms.size >= MAX_ACTIVE_ALARMS) {
      this.#alarmsUntracked += 1;
      return;
    }
    this.#alarms.set(key, {
      input,
      deviceId: draft.deviceId,
      alarm: draft.alarm,
      severity: draft.severity,
      message: draft.message,
      metric: draft.metric ?? null,
      value: draft.value ?? null,
      since: existing?.since ?? now,
      lastSeen: now,
    });
  }

  #traceDeadLetter(input: string, draft: Extract<EventDraft, { type: 'dead-letter' }>, now: number): void {
    const key = `${input}\u0000${draft.source}`;
    const known = this.#deadLetterSources.get(key);
    if (known) {
      this.#deadLetterSources.delete(key);
      known.count += 1;
      known.lastReason = draft.reason;
      known.lastSeen = now;
      known.deviceId = draft.deviceId;
      this.#deadLetterSources.set(key, known);
      return;
    }
    if (this.#deadLetterSources.size >= MAX_DEAD_LETTER_SOURCES) {
      const oldest = this.#deadLetterSources.keys().next().value;
      if (oldest !== undefined) this.#deadLetterSources.delete(oldest);
      this.#deadLetterSourcesDropped += 1;
    }
    this.#deadLetterSources.set(key, { input, source: draft.source, deviceId: draft.deviceId, count: 1, lastReason: draft.reason, firstSeen: now, lastSeen: now });
  }

  #committed(input: string, counters: InputCounters, drafts: readonly EventDraft[]): void {
    let readings = 0;
    const now = this.#options.clock.now();
    for (const draft of drafts) {
      if (draft.type === 'reading') readings += 1;
      else counters.eventsByType.set(draft.type, (counters.eventsByType.get(draft.type) ?? 0) + 1);
      const device = this.#devices.get(draft.deviceId);
      if (draft.type === 'dead-letter') {
        counters.deadLetters += 1;
        this.#traceDeadLetter(input, draft, now);
        // Counted on a device only when it has a row; never as device="_other" (that means "beyond http.maxDevices").
        if (device) {
          device.events += 1;
          device.deadLetters += 1;
        }
        continue;
      }
      if (device) device.events += 1;
      else this.#otherEvents.set(input, (this.#otherEvents.get(input) ?? 0) + 1);
      if (draft.type === 'reading' && draft.quality === 'bad') {
        counters.badReadings += 1;
        if (device) device.badReadings += 1;
      } else if (draft.type === 'gap') {
        counters.gaps += 1;
        counters.missingEvents += draft.count;
      }
    }
    if (readings > 0) counters.eventsByType.set('reading', (counters.eventsByType.get('reading') ?? 0) + readings);
  }
}
