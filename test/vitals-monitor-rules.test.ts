/** The example sink's pure parts: rule engine and rules file, and its SQLite store (real file). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RulesFile, loadConfig, type RuleT } from '../examples/vitals-monitor/src/config.js';
import { RuleEngine } from '../examples/vitals-monitor/src/rules.js';
import { MonitorStore } from '../examples/vitals-monitor/src/store.js';
import { SCHEMA_VERSION, type ReadingEvent } from '../src/events/schema.js';

const shipped = loadConfig(resolve(import.meta.dirname, '../examples/vitals-monitor/vitals-monitor.yaml'));
const T0 = Date.parse('2026-11-27T10:00:00.000Z');
let n = 0;

function reading(deviceId: string, metric: string, value: number | null, atSecond: number, quality: ReadingEvent['quality'] = 'good'): ReadingEvent {
  n += 1;
  const time = new Date(T0 + atSecond * 1000).toISOString();
  return { schemaVersion: SCHEMA_VERSION, id: `r-${n}`, gatewayId: 'gw', deviceId, seq: n, sourceTime: time, receivedAt: time, type: 'reading', metric, value, unit: '%', quality };
}

/** Feeds SpO2 values one a second from `start`; returns the alarm states raised, with the second they came at. */
function feed(engine: RuleEngine, values: readonly (number | null)[], start = 0): string[] {
  return values.flatMap((v, i) =>
    engine.onReading(reading('bed-1', 'spo2', v, start + i, v === null ? 'bad' : 'good')).map((t) => `${t.rule.name}:${t.state}@${start + i}`),
  );
}

describe('vitals-monitor rule engine (shipped rules.yaml)', () => {
  it('raises spo2-low once after 10 s below 90 %, and clears it when SpO2 recovers', () => {
    const engine = new RuleEngine(shipped.rules, T0);
    const transitions = feed(engine, [97, 96, 88, 87, 86, 85, 85, 84, 85, 86, 87, 88, 88, 89, 91, 95]);
    expect(transitions).toEqual(['spo2-low:active@12', 'spo2-low:cleared@14']);
  });

  it('does not raise for a dip shorter than 10 s, and a bad reading neither extends nor ends the episode', () => {
    const engine = new RuleEngine(shipped.rules, T0);
    expect(feed(engine, [97, 85, 85, 85, 85, 85, 92, 85, 85, 85, 85])).toEqual([]);
    const again = new RuleEngine(shipped.rules, T0);
    expect(feed(again, [85, 85, 85, 85, null, null, 85, 85, 85, 85, 85, 85])).toEqual(['spo2-low:active@10']);
  });

  it('continues an episode from stored state after a restart instead of raising it again', () => {
    const before = new RuleEngine(shipped.rules, T0);
    expect(feed(before, [85, 85, 85, 85, 85, 85, 85, 85, 85, 85, 85])).toEqual(['spo2-low:active@10']);
    const saved = before.takeDirty();
    const after = new RuleEngine(shipped.rules, T0 + 11_000, saved);
    expect(feed(after, [85, 84, 85, 93], 11)).toEqual(['spo2-low:cleared@14']);
    // Mid-episode (not yet raised): the stored start of the run counts, so the alarm comes at 10 s, not 10 s after the restart.
    const early = new RuleEngine(shipped.rules, T0);
    feed(early, [85, 85, 85, 85, 85]);
    const resumed = new RuleEngine(shipped.rules, T0 + 5000, early.takeDirty());
    expect(feed(resumed, [85, 85, 85, 85, 85, 85, 85], 5)).toEqual(['spo2-low:active@10']);
  });

  it('raises heart-rate-out-of-range at once on either side of 40–140 /min', () => {
    const engine = new RuleEngine(shipped.rules, T0);
    const hr = (v: number, s: number): string[] => engine.onReading(reading('bed-2', 'pulse-rate', v, s)).map((t) => `${t.rule.name}:${t.state}:${String(t.value)}`);
    expect([...hr(72, 0), ...hr(141, 1), ...hr(150, 2), ...hr(100, 3), ...hr(39, 4), ...hr(40, 5)]).toEqual([
      'heart-rate-out-of-range:active:141',
      'heart-rate-out-of-range:cleared:100',
      'heart-rate-out-of-range:active:39',
      'heart-rate-out-of-range:cleared:40',
    ]);
  });

  it('raises device-silent after 30 s without a vital sign (monitor clock), clears it on the next reading', () => {
    const engine = new RuleEngine(shipped.rules, T0);
    engine.onReading(reading('bed-3', 'spo2', 97, 0));
    engine.onReading(reading('bed-3', 'temperature', 36.6, 20)); // not a vital sign of the rule
    expect(engine.checkSilence(T0 + 29_999)).toEqual([]);
    expect(engine.checkSilence(T0 + 30_000).map((t) => `${t.deviceId}:${t.rule.name}:${t.state}`)).toEqual(['bed-3:device-silent:active']);
    expect(engine.checkSilence(T0 + 60_000)).toEqual([]);
    expect(engine.onReading(reading('bed-3', 'pulse-rate', 70, 61)).map((t) => `${t.rule.name}:${t.state}`)).toEqual(['device-silent:cleared']);
  });

  it('rejects a rule with no or two conditions, naming the rule', () => {
    const result = RulesFile.safeParse({ rules: [{ name: 'x', metric: 'spo2', below: 90, above: 100, message: 'm' }] });
    expect(result.success).toBe(false);
    const rules: RuleT[] = shipped.rules;
    expect(rules.map((r) => r.name)).toEqual(['spo2-low', 'heart-rate-out-of-range', 'device-silent']);
  });
});

describe('vitals-monitor store (real SQLite file)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('keeps processed ids, rule state and unsent alarms across a reopen, numbering alarms per device', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vitals-store-'));
    dirs.push(dir);
    const path = join(dir, 'state.db');
    const store = new MonitorStore(path);
    store.open();
    const engine = new RuleEngine(shipped.rules, T0);
    feed(engine, [85, 85, 85, 85, 85, 85, 85, 85, 85, 85, 85]);
    const alarm = { schemaVersion: SCHEMA_VERSION, id: 'a-1', gatewayId: 'm', deviceId: 'bed-1', sourceTime: null, receivedAt: new Date(T0).toISOString(), type: 'alarm', alarm: 'spo2-low', state: 'active', severity: 'high', message: 'low' } as const;
    store.commit({ processed: [{ id: 'r-a', receivedAt: T0 }], states: engine.takeDirty(), alarms: [alarm, { ...alarm, id: 'a-2', state: 'cleared' }] });
    store.close();

    const reopened = new MonitorStore(path);
    reopened.open();
    expect([...reopened.processedAmong(['r-a', 'r-b'])]).toEqual(['r-a']);
    expect(reopened.loadStates().find((s) => s.rule === 'spo2-low')?.state.active).toBe(true);
    const pending = reopened.pendingAlarms();
    expect(pending.map((p) => [p.event.id, p.event.seq])).toEqual([['a-1', 0], ['a-2', 1]]);
    reopened.markSent(pending.map((p) => p.pos), T0);
    expect(reopened.pendingAlarms()).toEqual([]);
    reopened.prune(T0 + 1);
    expect(reopened.processedAmong(['r-a']).size).toBe(0);
    reopened.close();
  });
});
