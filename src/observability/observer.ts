/**
 * Watches the event stream instead of instrumenting every input: each input gets its own decorating IngestSink
 * that sees every draft it hands to the buffer. From the drafts alone it keeps per-input counters and a bounded
 * table of devices (state from device-status drafts, last reading and its age, events/s). Counters are plain
 * numbers here; metrics.ts turns them into Prometheus series at scrape time, so the hot path stays a few Map
 * operations per draft.
 */
import type { EventDraft, ReadingValue } from '../events/schema.js';
import type { IngestSink } from '../inputs/input.js';
import type { Clock } from '../util/clock.js';

export type DeviceState = 'online' | 'degraded' | 'offline' | 'error' | 'unknown';
export const DEVICE_STATES: readonly DeviceState[] = ['online', 'degraded', 'offline', 'error', 'unknown'];

/** Label value of everything beyond the device cap. */
export const OTHER_DEVICES = '_other';

export interface DeviceRecord {
  deviceId: string;
  input: string;
  state: DeviceState;
  reason: string;
  /** When the state last changed (gateway clock, ms). */
  stateSince: number;
  lastReadingAt: number | null;
  lastMetric: string | null;
  lastValue: ReadingValue;
  lastUnit: string | null;
  lastQuality: string | null;
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
      lastMetric: null,
      lastValue: null,
      lastUnit: null,
      lastQuality: null,
      events: 0,
      badReadings: 0,
      deadLetters: 0,
      eventsPerSecond: 0,
      eventsAtSample: 0,
    };
    this.#devices.set(deviceId, record);
    return record;
  }

  /** State and last reading, as soon as an input hands them over (before the commit: the page shows what arrives). */
  #observeDrafts(input: string, drafts: readonly EventDraft[]): void {
    const now = this.#options.clock.now();
    for (const draft of drafts) {
      // Dead letters never create a device (their ids come from undecodable input); they count on known ones.
      if (draft.type === 'dead-letter') continue;
      const device = this.#deviceFor(input, draft.deviceId);
      if (!device) continue;
      if (draft.type === 'device-status') {
        if (device.state !== draft.status) device.stateSince = now;
        device.state = draft.status;
        device.reason = draft.reason;
      } else if (draft.type === 'reading') {
        device.lastReadingAt = now;
        device.lastMetric = draft.metric;
        device.lastValue = draft.value;
        device.lastUnit = draft.unit;
        device.lastQuality = draft.quality;
        if (device.state === 'unknown') {
          // Devices whose input reports no status (most MQTT sensors) count as online once they deliver.
          device.state = 'online';
          device.reason = 'delivering readings';
          device.stateSince = now;
        }
      }
    }
  }

  #committed(input: string, counters: InputCounters, drafts: readonly EventDraft[]): void {
    let readings = 0;
    for (const draft of drafts) {
      if (draft.type === 'reading') readings += 1;
      else counters.eventsByType.set(draft.type, (counters.eventsByType.get(draft.type) ?? 0) + 1);
      const device = this.#devices.get(draft.deviceId);
      if (device) device.events += 1;
      else this.#otherEvents.set(input, (this.#otherEvents.get(input) ?? 0) + 1);
      if (draft.type === 'dead-letter') {
        counters.deadLetters += 1;
        if (device) device.deadLetters += 1;
      } else if (draft.type === 'reading' && draft.quality === 'bad') {
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
