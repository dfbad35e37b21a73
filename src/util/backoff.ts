/**
 * The one retry/reconnect backoff of the gateway: exponential (initial × 2^attempt), capped at a maximum, with
 * jitter so that many gateways (or many inputs of one) that lost the same broker at the same moment do not all
 * come back at the same instant.
 *
 * - `equal` jitter: a wait anywhere in [50 %, 100 %] of the step. Never longer than the step, never shorter than
 *   half of it, so "at most `max` apart" still holds and a retry is not fired back to back.
 * - `full` jitter: anywhere in [0, 100 %] of the step (spreads the most; a wait may be very short).
 * - `none`: exactly the step.
 *
 * `random` is injectable (a function returning [0, 1)) so tests pin the jitter.
 */

export type Jitter = 'none' | 'equal' | 'full';

export interface BackoffPolicy {
  /** The step of the first retry (ms). */
  initialMs: number;
  /** The largest step (ms): once reached, every wait is drawn from it. */
  maxMs: number;
  jitter: Jitter;
}

/**
 * The wait before retry number `attempt` (0: the first retry after a failure). At least 1 ms: a wait of 0 means
 * "do not reconnect" to MQTT.js (reconnectPeriod) and would spin a retry loop elsewhere.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const step = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(0, attempt), 30));
  const share = policy.jitter === 'none' ? 1 : policy.jitter === 'equal' ? 0.5 + random() * 0.5 : random();
  return Math.max(1, Math.round(step * share));
}

/** A backoff that counts its own attempts: for a reconnect loop that waits `next()` after each failure and calls `reset()` once connected. */
export class Backoff {
  readonly #policy: BackoffPolicy;
  readonly #random: () => number;
  #attempt = 0;

  constructor(policy: BackoffPolicy, random: () => number = Math.random) {
    this.#policy = policy;
    this.#random = random;
  }

  /** Failures since the last reset(). */
  get attempt(): number {
    return this.#attempt;
  }

  /** The wait before the next attempt; the step after it doubles (up to the maximum). */
  next(): number {
    const delay = backoffDelay(this.#policy, this.#attempt, this.#random);
    this.#attempt += 1;
    return delay;
  }

  /** After a success: the next failure waits the first step again. */
  reset(): void {
    this.#attempt = 0;
  }
}
