// Pure parts of replay: the --since/--until parser and the progress output (terminal and plain).
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../src/errors.js';
import { PlainProgress, TerminalProgress, formatDuration, progressFigures } from '../src/replay/progress.js';
import { parseTimeArg } from '../src/replay/time-arg.js';

class Capture extends Writable {
  text = '';
  columns = 120;
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

describe('parseTimeArg', () => {
  const now = Date.parse('2026-11-27T10:00:00Z');
  it('reads durations as "that long ago" and ISO times as they are', () => {
    expect(parseTimeArg('--since', '2h', now)).toBe(Date.parse('2026-11-27T08:00:00Z'));
    expect(parseTimeArg('--since', '90s', now)).toBe(now - 90_000);
    expect(parseTimeArg('--since', '7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseTimeArg('--until', '2026-11-27T09:30:00Z', now)).toBe(Date.parse('2026-11-27T09:30:00Z'));
    expect(parseTimeArg('--until', '2026-11-26', now)).toBe(Date.parse('2026-11-26T00:00:00Z'));
  });
  it('rejects anything else with GW_USAGE naming the option', () => {
    for (const bad of ['yesterday', '12345', '2h ago', '2026-13-45T99:00:00Z']) {
      expect(() => parseTimeArg('--since', bad, now)).toThrow(GatewayError);
      expect(() => parseTimeArg('--since', bad, now)).toThrow(`--since "${bad}"`);
    }
  });
});

describe('replay progress', () => {
  it('computes rate and ETA', () => {
    expect(progressFigures(500, 1000, 1000)).toEqual({ percent: 50, rate: 500, etaMs: 1000 });
    expect(progressFigures(0, 1000, 0)).toEqual({ percent: 0, rate: 0, etaMs: null });
    expect(formatDuration(59_000)).toBe('59s');
    expect(formatDuration(61_000)).toBe('1m01s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
  });

  it('redraws one line in place on a terminal and ends it with a newline', () => {
    const out = new Capture();
    const progress = new TerminalProgress(out as unknown as NodeJS.WriteStream, { now: () => 1_000_000 });
    progress.update(0, 1000, 0);
    progress.update(1000, 1000, 2000);
    progress.finish(1000, 1000, 2000);
    const draws = out.text.split('\r\x1b[2K').filter((s) => s !== '');
    expect(draws).toHaveLength(3);
    expect(draws[2]).toBe(`[${'#'.repeat(30)}] 1000/1000 100.0%  500 ev/s  ETA 0s\n`);
    expect(out.text.split('\n')).toHaveLength(2); // one finished line
  });

  it('writes plain lines at most every interval when not on a terminal', () => {
    const out = new Capture();
    // A clock that stands still: the second update falls within the interval whatever the machine's speed.
    const progress = new PlainProgress(out, { now: () => 1_000_000 }, 60_000);
    progress.update(0, 100, 0);
    progress.update(10, 100, 100); // within the interval: nothing
    progress.finish(100, 100, 1000);
    expect(out.text).toBe('replay: sending 100 events\nreplay: 100/100 events (100.0%), 100 events/s, ETA 0s\n');
  });
});
