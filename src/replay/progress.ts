/**
 * Progress of a replay: on a terminal one line redrawn in place (count, percentage, rate, ETA); otherwise
 * (journald, CI logs, pipes) a plain line every few seconds, so logs stay readable.
 */
import type { Clock } from '../util/clock.js';
import type { ReplayProgress } from './replayer.js';

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The figures one progress line shows. */
export function progressFigures(sent: number, total: number, elapsedMs: number): { percent: number; rate: number; etaMs: number | null } {
  const rate = elapsedMs > 0 ? (sent * 1000) / elapsedMs : 0;
  const percent = total > 0 ? Math.min(100, (sent * 100) / total) : 100;
  const etaMs = rate > 0 ? ((total - sent) / rate) * 1000 : null;
  return { percent, rate, etaMs };
}

function bar(percent: number, width: number): string {
  const filled = Math.round((percent / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export class TerminalProgress implements ReplayProgress {
  readonly #out: NodeJS.WriteStream;
  readonly #clock: Clock;
  #lastDraw = 0;

  constructor(out: NodeJS.WriteStream, clock: Clock) {
    this.#out = out;
    this.#clock = clock;
  }

  #line(sent: number, total: number, elapsedMs: number): string {
    const { percent, rate, etaMs } = progressFigures(sent, total, elapsedMs);
    const eta = etaMs === null ? '--' : formatDuration(etaMs);
    const text = `${bar(percent, 30)} ${sent}/${total} ${percent.toFixed(1)}%  ${Math.round(rate)} ev/s  ETA ${eta}`;
    const columns = this.#out.columns ?? 100;
    return text.length >= columns ? text.slice(0, columns - 1) : text;
  }

  update(sent: number, total: number, elapsedMs: number): void {
    const now = this.#clock.now();
    if (sent > 0 && sent < total && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    this.#out.write(`\r\x1b[2K${this.#line(sent, total, elapsedMs)}`);
  }

  finish(sent: number, total: number, elapsedMs: number): void {
    this.#out.write(`\r\x1b[2K${this.#line(sent, total, elapsedMs)}\n`);
  }
}

export class PlainProgress implements ReplayProgress {
  readonly #out: NodeJS.WritableStream;
  readonly #clock: Clock;
  readonly #everyMs: number;
  #lastLine = 0;

  constructor(out: NodeJS.WritableStream, clock: Clock, everyMs = 5000) {
    this.#out = out;
    this.#clock = clock;
    this.#everyMs = everyMs;
  }

  #write(sent: number, total: number, elapsedMs: number): void {
    const { percent, rate, etaMs } = progressFigures(sent, total, elapsedMs);
    const eta = etaMs === null ? 'unknown' : formatDuration(etaMs);
    this.#out.write(`replay: ${sent}/${total} events (${percent.toFixed(1)}%), ${Math.round(rate)} events/s, ETA ${eta}\n`);
  }

  update(sent: number, total: number, elapsedMs: number): void {
    const now = this.#clock.now();
    if (sent === 0) {
      this.#lastLine = now;
      this.#out.write(`replay: sending ${total} events\n`);
      return;
    }
    if (now - this.#lastLine < this.#everyMs) return;
    this.#lastLine = now;
    this.#write(sent, total, elapsedMs);
  }

  finish(sent: number, total: number, elapsedMs: number): void {
    this.#write(sent, total, elapsedMs);
  }
}
