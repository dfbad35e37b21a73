/**
 * sd_notify(3) for Node: tells systemd (Type=notify) that the gateway is ready, reloading or stopping, and pings
 * its watchdog. Without NOTIFY_SOCKET in the environment (not started by systemd, or not Type=notify) every call
 * is a no-op.
 *
 * How the datagram reaches the socket. Node has no AF_UNIX SOCK_DGRAM sockets, so the choices were:
 *  - `systemd-notify` (this module): part of the systemd package, so it is present wherever NOTIFY_SOCKET can be;
 *    no native code to build for arm64/armhf. Its caveat is that the datagram comes from a short-lived child
 *    process, not from the main PID: the unit needs NotifyAccess=all, and systemd has to resolve the sender's
 *    cgroup before it exits. Since systemd 246 systemd-notify waits by default (without --no-block) until systemd
 *    has processed the message (a BARRIER=1 datagram carrying a pipe fd that systemd closes), so the race is gone
 *    on bookworm's systemd 252. Cost: one fork+exec (~10 ms) per message; watchdog pings come every
 *    WatchdogSec/2 (15 s with the shipped unit), which is negligible.
 *  - the `unix-dgram` native module: one more native addon to compile or fetch per architecture (the install
 *    story on a Pi is already the hard part with better-sqlite3 and serialport), with a small maintenance
 *    footprint.
 *  - `socat UNIX-SENDTO:`: same child-process caveat as systemd-notify, but not installed on Raspberry Pi OS Lite.
 * Messages are sent one at a time in order (READY=1 can never overtake STOPPING=1 or the other way round).
 */
import { execFile } from 'node:child_process';
import { errorMessage } from '../errors.js';
import type { Logger } from '../util/logger.js';

/** The assignments of one notification, e.g. `{ READY: '1', STATUS: 'running' }`. */
export type NotifyFields = Readonly<Record<string, string>>;

export interface ServiceNotifier {
  /** True when a service manager listens (NOTIFY_SOCKET is set). */
  readonly enabled: boolean;
  /** Sends one notification; resolves once it was delivered (or failed, which is logged, never thrown). */
  notify(fields: NotifyFields): Promise<void>;
  /** Resolves when every notification sent so far has been delivered or has failed. */
  idle(): Promise<void>;
}

/** How long one systemd-notify may take (its own barrier wait gives up after 5 s). */
const NOTIFY_TIMEOUT_MS = 10_000;

export interface SystemdNotifierOptions {
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** The helper binary; `systemd-notify` from PATH by default. */
  command?: string;
}

export class SystemdNotifier implements ServiceNotifier {
  readonly #env: NodeJS.ProcessEnv;
  readonly #logger: Logger;
  readonly #command: string;
  #queue: Promise<void> = Promise.resolve();
  #lastError: string | undefined;

  constructor(options: SystemdNotifierOptions) {
    this.#env = options.env ?? process.env;
    this.#logger = options.logger;
    this.#command = options.command ?? 'systemd-notify';
  }

  get enabled(): boolean {
    const socket = this.#env.NOTIFY_SOCKET;
    return socket !== undefined && socket !== '';
  }

  notify(fields: NotifyFields): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const args = Object.entries(fields).map(([key, value]) => `${key}=${value.replace(/\n/g, ' ')}`);
    this.#queue = this.#queue.then(() => this.#send(args));
    return this.#queue;
  }

  idle(): Promise<void> {
    return this.#queue;
  }

  #send(args: string[]): Promise<void> {
    return new Promise((resolveSend) => {
      execFile(this.#command, args, { env: this.#env, timeout: NOTIFY_TIMEOUT_MS }, (err, _stdout, stderr) => {
        if (err) {
          // Logged once per distinct failure: a missing binary must not fill the journal every 15 s.
          const reason = `${errorMessage(err)}${stderr ? `: ${stderr.trim()}` : ''}`;
          if (reason !== this.#lastError) {
            this.#logger.warn({ err: reason, command: this.#command, message: args.join(' ') }, 'systemd notification failed');
            this.#lastError = reason;
          }
        } else {
          this.#lastError = undefined;
        }
        resolveSend();
      });
    });
  }
}
