/**
 * One human-readable line per event for `telemetry-gateway tail`: time, device, then what happened.
 *   2026-11-27T09:41:07.120Z  oximeter-1  spo2 = 97 %  good
 *   2026-11-27T09:41:12.000Z  oximeter-1  ALARM spo2-low active (high): SpO2 below 90 % for 10 s  [spo2 = 86]
 * Pure: no I/O, so the layout is tested without Kafka.
 */
import type { ReadingValue, TelemetryEvent } from '../events/schema.js';
import { displayUnit } from '../events/units.js';

function displayValue(value: ReadingValue | undefined, unit?: string | null): string {
  if (value === null || value === undefined) return '—';
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  const u = displayUnit(unit);
  return u === '' ? shown : `${shown} ${u}`;
}

/** The time a person cares about: the device's own clock when it has one, else when the gateway received it. */
export function eventTime(event: TelemetryEvent): string {
  return event.sourceTime ?? event.receivedAt;
}

function describe(event: TelemetryEvent): string {
  switch (event.type) {
    case 'reading':
      return `${event.metric} = ${displayValue(event.value, event.unit)}  ${event.quality}`;
    case 'alarm': {
      const value = event.metric === undefined ? '' : `  [${event.metric} = ${displayValue(event.value)}]`;
      return `ALARM ${event.alarm} ${event.state} (${event.severity}): ${event.message}${value}`;
    }
    case 'device-status':
      return `STATUS ${event.previous} → ${event.status}: ${event.reason}`;
    case 'gateway-health': {
      const figures = Object.entries(event.figures).map(([name, n]) => `${name}=${n}`);
      return `HEALTH up ${Math.round(event.uptimeSeconds)} s${figures.length > 0 ? `  ${figures.join(' ')}` : ''}`;
    }
    case 'gap': {
      const seqs = event.fromSeq === undefined ? '' : ` (seq ${event.fromSeq}–${event.toSeq ?? '?'})`;
      return `GAP ${event.count} event(s) missing${seqs} ${event.fromTime} … ${event.toTime}: ${event.reason}`;
    }
    case 'dead-letter':
      return `DEAD-LETTER ${event.input} ${event.source}: ${event.reason} (${event.payloadBytes} bytes${event.truncated ? ', truncated' : ''})`;
  }
}

export function formatEventLine(event: TelemetryEvent): string {
  return `${eventTime(event)}  ${event.deviceId}  ${describe(event)}`;
}
