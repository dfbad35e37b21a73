/**
 * How every long-lived part of the gateway (inputs, forwarder, observability, watchdog, simulators) is started
 * and stopped: one way, so the gateway and the commands drive them all alike. Constructors only store their
 * dependencies and do nothing; `start()` acquires (connects, listens, starts timers) and `stop()` releases, each
 * awaited, in the order the composition root (src/gateway.ts) needs. Options a stop depends on (the forwarder's
 * drain deadline) are given at construction, never to `stop()`.
 */
export interface Lifecycle {
  /** Starts the work; resolves once the component runs (or its first attempt was made, for reconnecting ones). */
  start(): Promise<void>;
  /** Stops the work and releases what start() took; resolves once done. Safe to call when not started. */
  stop(): Promise<void>;
}
