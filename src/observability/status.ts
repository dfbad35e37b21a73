/**
 * The JSON behind the status page (/api/status). Only figures, names and states: never a secret, a URL with
 * credentials or a config value beyond input and device names.
 */
import type { ReadingValue } from '../events/schema.js';
import type { BufferFigures, Figures, HistoryPoint } from './figures.js';
import type { Liveness, Readiness } from './health.js';
import type { DeviceState } from './observer.js';

export interface StatusDevice {
  deviceId: string;
  input: string;
  state: DeviceState;
  reason: string;
  stateSinceSeconds: number;
  lastReadingAgeSeconds: number | null;
  lastMetric: string | null;
  lastValue: ReadingValue;
  lastUnit: string | null;
  lastQuality: string | null;
  events: number;
  eventsPerSecond: number;
  deadLetters: number;
  badReadings: number;
}

export interface StatusInput {
  name: string;
  /** From the input's `*_connected` gauge, when it exports one; null when unknown. */
  connected: boolean | null;
  eventsIngested: number;
  deadLetters: number;
  commitFailures: number;
  metrics: { name: string; labels: Record<string, string>; value: number }[];
}

export interface Status {
  gatewayId: string;
  time: string;
  uptimeSeconds: number;
  live: Liveness;
  ready: Readiness;
  buffer: BufferFigures;
  kafka: { connected: boolean; lastError: string | null; sentEvents: number; sentBatches: number; failedSends: number };
  /** null without kafka.schemaRegistry; ready false while delivery waits for the registry (events stay buffered). */
  schemaRegistry: { ready: boolean; lastError: string | null; lastErrorCode: string | null; subjects: { subject: string; id: number }[] } | null;
  rates: { inPerSecond: number; outPerSecond: number };
  inputs: StatusInput[];
  devices: StatusDevice[];
  devicesUntracked: number;
  maxDevices: number;
  history: readonly HistoryPoint[];
}

export function buildStatus(figures: Figures, live: Liveness, ready: Readiness): Status {
  const now = figures.now();
  const observer = figures.observer;
  const f = figures.forwarder();
  const last = figures.history.at(-1);
  const inputs: StatusInput[] = figures.view.inputs().map((input) => {
    const counters = observer.inputs.get(input.name);
    let metrics: StatusInput['metrics'] = [];
    try {
      metrics = (input.metrics?.() ?? []).map((m) => ({ name: m.name, labels: { ...m.labels }, value: m.value }));
    } catch {
      // reported by /metrics; the page shows the input without them
    }
    const connectedMetric = metrics.find((m) => m.name.endsWith('_connected') && Object.keys(m.labels).length === 0);
    let eventsIngested = 0;
    for (const n of counters?.eventsByType.values() ?? []) eventsIngested += n;
    return {
      name: input.name,
      connected: connectedMetric ? connectedMetric.value > 0 : null,
      eventsIngested,
      deadLetters: counters?.deadLetters ?? 0,
      commitFailures: counters?.commitFailures ?? 0,
      metrics,
    };
  });
  const round = (n: number): number => Math.round(n * 100) / 100;
  const devices: StatusDevice[] = observer.devices
    .map((d) => ({
      deviceId: d.deviceId,
      input: d.input,
      state: d.state,
      reason: d.reason,
      stateSinceSeconds: round((now - d.stateSince) / 1000),
      lastReadingAgeSeconds: d.lastReadingAt === null ? null : round(Math.max(0, now - d.lastReadingAt) / 1000),
      lastMetric: d.lastMetric,
      lastValue: d.lastValue,
      lastUnit: d.lastUnit,
      lastQuality: d.lastQuality,
      events: d.events,
      eventsPerSecond: round(d.eventsPerSecond),
      deadLetters: d.deadLetters,
      badReadings: d.badReadings,
    }))
    .sort((a, b) => a.input.localeCompare(b.input) || a.deviceId.localeCompare(b.deviceId, undefined, { numeric: true }));
  return {
    gatewayId: figures.view.gatewayId,
    time: new Date(now).toISOString(),
    uptimeSeconds: Math.round(figures.uptimeSeconds),
    live,
    ready,
    buffer: figures.buffer(),
    kafka: {
      connected: f?.connected ?? false,
      lastError: f?.lastError ?? null,
      sentEvents: f?.sentEvents ?? 0,
      sentBatches: f?.sentBatches ?? 0,
      failedSends: f?.failedSends ?? 0,
    },
    schemaRegistry: registryStatus(figures),
    rates: { inPerSecond: round(last?.inPerSecond ?? 0), outPerSecond: round(last?.outPerSecond ?? 0) },
    inputs,
    devices,
    devicesUntracked: observer.untrackedDevices,
    maxDevices: observer.maxDevices,
    history: figures.history,
  };
}

function registryStatus(figures: Figures): Status['schemaRegistry'] {
  const state = figures.view.schemaRegistry?.();
  if (!state?.configured) return null;
  return { ready: state.ready, lastError: state.lastError, lastErrorCode: state.lastErrorCode, subjects: state.subjects };
}
