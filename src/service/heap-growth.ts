/**
 * How far V8 lets the old generation grow past what survived the last full GC before it collects again.
 *
 * Why the gateway sets it: V8 picks the factor itself, up to 4× for a heap that collects quickly, and a gateway
 * draining a backlog churns through short-lived rows, records and native copies, so its heap sat at a multiple of
 * its live set: 226 MB resident at its peak while draining 1,000,000 events against 158 MB with a factor of 1.5,
 * at about the same drain rate and CPU (BENCHMARKS.md, "Peak RSS while draining: the heap growing factor").
 * It is a growth factor, not a cap: a larger live set still gets the room it needs (no out-of-memory exit, which
 * `--max-old-space-size` would risk). V8 reads the factor at every heap-limit computation, so setting it once the
 * process runs takes effect (unlike the young generation's size, which is why the systemd unit passes
 * `--max-semi-space-size` in NODE_OPTIONS instead). NODE_OPTIONS refuses this flag, so an operator who wants
 * another factor starts node with it (`node --heap-growing-percent=N dist/cli.js run …`); that one is kept.
 */
import { setFlagsFromString } from 'node:v8';

/** Old generation limit = live size after a full GC × (1 + this / 100). */
export const HEAP_GROWING_PERCENT = 50;

export interface HeapGrowth {
  percent: number;
  /** 'gateway': set by the gateway (HEAP_GROWING_PERCENT); 'command line': node was started with its own. */
  source: 'gateway' | 'command line';
}

const FLAG = /^--heap[-_]growing[-_]percent(?:=(\d+))?$/;

/** The factor in force for a node started with `execArgv`: its own flag wins over the gateway's default. */
export function heapGrowthFor(execArgv: readonly string[]): HeapGrowth {
  for (let i = execArgv.length - 1; i >= 0; i--) {
    const match = FLAG.exec(execArgv[i] as string);
    if (!match) continue;
    const value = match[1] ?? execArgv[i + 1];
    const percent = Number(value);
    if (Number.isInteger(percent) && percent >= 0) return { percent, source: 'command line' };
  }
  return { percent: HEAP_GROWING_PERCENT, source: 'gateway' };
}

/** Applies the gateway's factor unless node was started with one; returns what is in force (for the start log). */
export function applyHeapGrowth(execArgv: readonly string[] = process.execArgv): HeapGrowth {
  const growth = heapGrowthFor(execArgv);
  if (growth.source === 'gateway') setFlagsFromString(`--heap-growing-percent=${growth.percent}`);
  return growth;
}
