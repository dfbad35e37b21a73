// Types of scripts/java-service.mjs (plain JS, no build step), for TypeScript under strict mode.

export interface JavaServiceHandle {
  pid: number;
  logFile: string;
  /** SIGTERM, wait up to 30 s, then SIGKILL; resolves when the process is gone. */
  stop(): Promise<void>;
  /** Sends a signal (default SIGTERM) without waiting. */
  kill(signal?: NodeJS.Signals | number): void;
  /** Resolves true once the process is gone (false after 30 s). */
  waitForExit(): Promise<boolean>;
  /** The last `lines` (default 60) lines of the log. */
  logTail(lines?: number): string;
}

export function findFreePort(host?: string): Promise<number>;
export function isPortFree(port: number, host?: string): Promise<boolean>;
export function findJava(minimum: number): Promise<string>;
