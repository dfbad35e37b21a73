/**
 * `degraded`: inputs report problems (Input.problems(), the injected seam) and health figures
 * (InputMetric.healthFigure); readiness, the gateway-health draft and its schema carry them. Pure logic with a
 * fixed clock; end to end against real Mosquitto: test/e2e-broker-drops.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { GatewayHealthEventSchema } from '../src/events/schema.js';
import type { Input, InputProblem } from '../src/inputs/input.js';
import { Figures } from '../src/observability/figures.js';
import { EventLoopMonitor, HealthReporter, degradation, readiness } from '../src/observability/health.js';
import { EventObserver } from '../src/observability/observer.js';

const clock = { now: () => Date.parse('2026-12-01T12:00:00.000Z') };

function input(name: string, problems: () => InputProblem[], dropped?: number): Input {
  return {
    name,
    start: async () => undefined,
    stop: async () => undefined,
    problems,
    metrics: () =>
      dropped === undefined
        ? []
        : [{ name: 'mqtt_broker_dropped_messages_total', help: 'h', type: 'counter', value: dropped, healthFigure: 'brokerDroppedMessages' }],
  };
}

function figuresOf(inputs: Input[]): Figures {
  const observer = new EventObserver({ maxDevices: 10, clock });
  return new Figures({ gatewayId: 'gw-1', buffer: () => undefined, forwarder: () => undefined, inputs: () => inputs }, observer, clock);
}

const dropped: InputProblem = { code: 'GW_MQTT_BROKER_DROPPED', message: 'the broker dropped 5', count: 5, since: clock.now() - 60_000, lastSeen: clock.now() };

describe('degraded', () => {
  it('is ok without problems, and says degraded with every input problem (times as RFC 3339)', () => {
    expect(degradation(figuresOf([input('a', () => [])]))).toEqual({ status: 'ok', problems: [] });
    const throwing = input('broken', () => {
      throw new Error('boom');
    });
    const d = degradation(figuresOf([input('a', () => [dropped]), throwing, { name: 'modbus', start: async () => undefined, stop: async () => undefined }]));
    expect(d).toEqual({
      status: 'degraded',
      problems: [{ input: 'a', code: 'GW_MQTT_BROKER_DROPPED', message: 'the broker dropped 5', count: 5, since: '2026-12-01T11:59:00.000Z', lastSeen: '2026-12-01T12:00:00.000Z' }],
    });
  });

  it('does not make the gateway unready', () => {
    const r = readiness(figuresOf([input('a', () => [dropped])]), true);
    expect(r.status).toBe('degraded');
    expect(r.problems).toHaveLength(1);
    // Not ready only for the buffer here (none is open in this test), never because of the problem.
    expect(r.reasons).toEqual(['buffer not writable: buffer not open']);
  });

  it('goes into the gateway-health event: status, problems, the degraded figure and summed health figures', () => {
    const figures = figuresOf([input('a', () => [dropped], 3000), input('b', () => [], 2)]);
    const draft = new HealthReporter(figures, new EventLoopMonitor()).draft();
    if (draft.type !== 'gateway-health') throw new Error('not a health draft');
    expect(draft.status).toBe('degraded');
    expect(draft.problems?.[0]).toMatchObject({ input: 'a', code: 'GW_MQTT_BROKER_DROPPED', count: 5 });
    expect(draft.figures.degraded).toBe(1);
    expect(draft.figures.brokerDroppedMessages).toBe(3002);
    expect(GatewayHealthEventSchema.safeParse({ ...draft, schemaVersion: 2, id: 'x', gatewayId: 'gw-1', seq: 0 }).success).toBe(true);

    const healthy = new HealthReporter(figuresOf([input('a', () => [], 0)]), new EventLoopMonitor()).draft();
    if (healthy.type !== 'gateway-health') throw new Error('not a health draft');
    expect([healthy.status, healthy.problems, healthy.figures.degraded, healthy.figures.brokerDroppedMessages]).toEqual(['ok', [], 0, 0]);
  });
});
