/**
 * The systemd watchdog (WatchdogSec=): WATCHDOG=1 at half of WATCHDOG_USEC, sent from a timer on the event loop.
 * That is the point: a loop that is stuck (a busy loop, a synchronous call that never returns) fires no timers,
 * the pings stop, and systemd kills and restarts the service (Restart=on-failure).
 */
import type { Lifecycle } from '../util/lifecycle.js';
import type { Logger } from '../util/logger.js';
import type { ServiceNotifier } from './notify.js';

/**
 * The ping period for this process from the environment systemd sets: half of WATCHDOG_USEC, or undefined when
 * the watchdog is off or meant for another process (WATCHDOG_PID names a different PID).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  const target = env.WATCHDOG_PID;
  if (target !== undefined && target !== '' && Number(target) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export class Watchdog implements Lifecycle {
  readonly #notifier: ServiceNotifier;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = false;

  constructor(notifier: ServiceNotifier, intervalMs: number, logger: Logger) {
    this.#notifier = notifier;
    this.#intervalMs = intervalMs;
    this.#logger = logger;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** Pings now and then every interval until stop(); resolves at once (the first ping goes in the background). */
  async start(): Promise<void> {
    if (this.#timer) return;
    this.#logger.info({ intervalMs: this.#intervalMs }, 'systemd watchdog enabled');
    this.#ping();
    this.#timer = setInterval(() => this.#ping(), this.#intervalMs);
    // The watchdog never keeps the process alive on its own; shutdown decides when to exit.
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #ping(): void {
    // A ping whose helper process is still running is not doubled: pings must not pile up on a loaded machine.
    if (this.#inFlight) return;
    this.#inFlight = true;
    void this.#notifier.notify({ WATCHDOG: '1' }).finally(() => {
      this.#inFlight = false;
    });
  }
}
