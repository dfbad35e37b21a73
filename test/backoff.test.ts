// The one backoff helper (src/util/backoff.ts): exponential steps, the cap, both jitters, the reset, with an
// injected random so every wait is known.
import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from '../src/util/backoff.js';

/** Returns the given values in turn (each in [0, 1)), as Math.random would. */
function randoms(...values: number[]): () => number {
  let i = 0;
  return () => {
    const value = values[i % values.length] as number;
    i += 1;
    return value;
  };
}

describe('backoffDelay', () => {
  const policy = { initialMs: 100, maxMs: 1000 } as const;

  it('doubles the step from the initial one and holds it at the maximum', () => {
    const steps = [0, 1, 2, 3, 4, 5, 40].map((attempt) => backoffDelay({ ...policy, jitter: 'none' }, attempt));
    expect(steps).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('equal jitter waits between half the step and the whole step', () => {
    expect(backoffDelay({ ...policy, jitter: 'equal' }, 2, () => 0)).toBe(200);
    expect(backoffDelay({ ...policy, jitter: 'equal' }, 2, () => 0.5)).toBe(300);
    expect(backoffDelay({ ...policy, jitter: 'equal' }, 2, () => 0.999_999)).toBe(400);
    expect(backoffDelay({ ...policy, jitter: 'equal' }, 9, () => 0.999_999)).toBe(1000);
  });

  it('full jitter waits anywhere up to the step, never 0 ms', () => {
    expect(backoffDelay({ ...policy, jitter: 'full' }, 3, () => 0.25)).toBe(200);
    expect(backoffDelay({ ...policy, jitter: 'full' }, 3, () => 0)).toBe(1);
    expect(backoffDelay({ ...policy, jitter: 'full' }, 3, () => 0.999_999)).toBe(800);
  });

  it('takes a negative attempt as the first one and does not overflow on a huge one', () => {
    expect(backoffDelay({ ...policy, jitter: 'none' }, -3)).toBe(100);
    expect(backoffDelay({ ...policy, jitter: 'none' }, 1e9)).toBe(1000);
  });
});

describe('Backoff', () => {
  it('counts its attempts, grows to the cap with the jitter drawn each time, and starts over after reset()', () => {
    const backoff = new Backoff({ initialMs: 50, maxMs: 300, jitter: 'equal' }, randoms(0, 0.5, 0.999_999, 0, 0.5));
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([25, 75, 200, 150, 225]);
    expect(backoff.attempt).toBe(5);
    backoff.reset();
    expect(backoff.attempt).toBe(0);
    expect(backoff.next()).toBe(25);
  });
});
