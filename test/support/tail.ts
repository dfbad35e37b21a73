import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './gateway-process.js';
import { waitFor } from './wait.js';

/** `telemetry-gateway tail ...` as operators run it, with its stdout lines and stderr collected. */
export class TailProcess {
  readonly lines: string[] = [];
  stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [CLI, 'tail', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      this.lines.push(...lines);
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  async waitForLines(count: number): Promise<string[]> {
    await waitFor(`${count} tail lines (have ${this.lines.length}: ${this.lines.join(' | ')}; stderr ${this.stderr})`, () => {
      if (this.child.exitCode !== null) throw new Error(`tail exited ${this.child.exitCode}: ${this.stderr}`);
      return this.lines.length >= count;
    }, { timeoutMs: 60_000 });
    return this.lines;
  }

  async interrupt(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    return this.exited;
  }
}
