// Top self-time functions of a V8 .cpuprofile (node --cpu-prof): where a process spends its CPU, by function.
//   node bench/top-self.mjs FILE.cpuprofile [--top 25]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export function topSelf(file, top = 25) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const deltas = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    selfUs.set(key, (selfUs.get(key) ?? 0) + (deltas[i] ?? 0));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const idle = selfUs.get('(idle)') ?? 0;
  const rows = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, ms: Math.round(us / 1000), pctBusy: key(fn) ? '' : (((us / (total - idle)) * 100) || 0).toFixed(1) }));
  return { totalMs: Math.round(total / 1000), busyMs: Math.round((total - idle) / 1000), rows };
}
const key = (fn) => fn === '(idle)';

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  for (const file of positionals) {
    const r = topSelf(file, Number(values.top));
    process.stdout.write(`${file}: ${r.busyMs} ms busy of ${r.totalMs} ms\n`);
    for (const row of r.rows) process.stdout.write(`${String(row.ms).padStart(7)} ms ${row.pctBusy.padStart(5)}%  ${row.fn}\n`);
  }
}
