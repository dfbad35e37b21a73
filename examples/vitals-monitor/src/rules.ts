/**
 * The rule engine: pure logic, no I/O. It sees readings one at a time (per device in Kafka order) and the clock
 * for silence, and says which alarms become active or cleared. Its whole state is a small JSON object per
 * (device, rule), so the monitor stores it in SQLite in the same transaction as the ids of the readings that led
 * to it: after a restart the engine continues the same episode and does not raise it again.
 */
import type { ReadingEvent } from 'edge-telemetry-gateway/events';
import type { RuleT, SilenceRuleT, ThresholdRuleT } from './config.js';

/** State of one rule for one device. Times are epoch milliseconds. */
export interface RuleState {
  /** Threshold rules: event time of the first reading of the current out-of-bounds run (null: in bounds). */
  since: number | null;
  /** Event time of the last reading the rule looked at (older readings are out of order and ignored). */
  lastTime: number | null;
  /** Silence rules: receivedAt of the latest reading from the device. */
  lastSeen: number | null;
  /** An alarm is active for the current episode (raised, not yet cleared). */
  active: boolean;
}

/** An alarm transition the monitor turns into an `alarm` event. */
export interface AlarmTransition {
  deviceId: string;
  rule: RuleT;
  state: 'active' | 'cleared';
  metric?: string;
  value?: number | null;
  /** Event time of the reading that caused it (null for silence: nothing arrived). */
  time: number | null;
}

export const stateKey = (deviceId: string, rule: string): string => `${deviceId}\u0000${rule}`;

export function isSilenceRule(rule: RuleT): rule is SilenceRuleT {
  return 'silentFor' in rule;
}

function appliesTo(rule: RuleT, event: Pick<ReadingEvent, 'deviceId' | 'metric'>): boolean {
  if (rule.devices && !rule.devices.includes(event.deviceId)) return false;
  return rule.metric === undefined || rule.metric.includes(event.metric);
}

function outOfBounds(rule: ThresholdRuleT, value: number): boolean {
  if (rule.below !== undefined) return value < rule.below;
  if (rule.above !== undefined) return value > rule.above;
  if (rule.outside) return value < rule.outside[0] || value > rule.outside[1];
  return false;
}

export class RuleEngine {
  readonly #rules: readonly RuleT[];
  readonly #states = new Map<string, { deviceId: string; rule: string; state: RuleState }>();
  readonly #dirty = new Set<string>();
  /** Silence is measured from here at the earliest: after a restart a device gets a full window to be heard from. */
  readonly #startedAt: number;

  constructor(rules: readonly RuleT[], startedAt: number, saved: Iterable<{ deviceId: string; rule: string; state: RuleState }> = []) {
    this.#rules = rules;
    this.#startedAt = startedAt;
    for (const s of saved) this.#states.set(stateKey(s.deviceId, s.rule), s);
  }

  #state(deviceId: string, rule: string): RuleState {
    const key = stateKey(deviceId, rule);
    let entry = this.#states.get(key);
    if (!entry) {
      entry = { deviceId, rule, state: { since: null, lastTime: null, lastSeen: null, active: false } };
      this.#states.set(key, entry);
    }
    this.#dirty.add(key);
    return entry.state;
  }

  /** The states changed since the last call (to be stored with the readings that changed them). */
  takeDirty(): { deviceId: string; rule: string; state: RuleState }[] {
    const out = [...this.#dirty].flatMap((k) => {
      const entry = this.#states.get(k);
      return entry ? [{ ...entry, state: { ...entry.state } }] : [];
    });
    this.#dirty.clear();
    return out;
  }

  /** Evaluates one reading. Bad-quality and non-numeric values neither start, extend nor end an episode. */
  onReading(event: ReadingEvent): AlarmTransition[] {
    const transitions: AlarmTransition[] = [];
    const time = Date.parse(event.sourceTime ?? event.receivedAt);
    const receivedAt = Date.parse(event.receivedAt);
    for (const rule of this.#rules) {
      if (!appliesTo(rule, event)) continue;
      const state = this.#state(event.deviceId, rule.name);
      if (isSilenceRule(rule)) {
        state.lastSeen = Math.max(state.lastSeen ?? 0, receivedAt);
        if (state.active) {
          state.active = false;
          transitions.push({ deviceId: event.deviceId, rule, state: 'cleared', metric: event.metric, time });
        }
        continue;
      }
      if (event.quality === 'bad' || typeof event.value !== 'number') continue;
      if (state.lastTime !== null && time < state.lastTime) continue;
      state.lastTime = time;
      if (outOfBounds(rule, event.value)) {
        state.since ??= time;
        if (!state.active && time - state.since >= rule.for) {
          state.active = true;
          transitions.push({ deviceId: event.deviceId, rule, state: 'active', metric: event.metric, value: event.value, time });
        }
      } else {
        state.since = null;
        if (state.active) {
          state.active = false;
          transitions.push({ deviceId: event.deviceId, rule, state: 'cleared', metric: event.metric, value: event.value, time });
        }
      }
    }
    return transitions;
  }

  /** Silence rules: devices not heard from for `silentFor` (monitor clock) become active. */
  checkSilence(now: number): AlarmTransition[] {
    const transitions: AlarmTransition[] = [];
    for (const rule of this.#rules) {
      if (!isSilenceRule(rule)) continue;
      // Devices the rule names are watched from the start, even before their first reading.
      for (const deviceId of rule.devices ?? []) if (!this.#states.has(stateKey(deviceId, rule.name))) this.#state(deviceId, rule.name);
      for (const entry of this.#states.values()) {
        if (entry.rule !== rule.name || entry.state.active) continue;
        if (now - Math.max(entry.state.lastSeen ?? 0, this.#startedAt) < rule.silentFor) continue;
        this.#state(entry.deviceId, rule.name).active = true;
        transitions.push({ deviceId: entry.deviceId, rule, state: 'active', time: null });
      }
    }
    return transitions;
  }
}
