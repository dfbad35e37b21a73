// Time from spawning `telemetry-gateway run` to its 'gateway started' line on a buffer holding N pending events,
// after a clean stop (the clean-stop seal matches: buffer.integrityCheck is skipped) next to after a crash (no seal:
// quick_check reads every page), alternating in the same run. Kafka points at a closed port so nothing drains and
// every start sees the same backlog; each gateway is stopped with SIGTERM (a clean stop, which writes the seal).
//   npm run build && node bench/ready-backlog.mjs [--events 10000000] [--runs 3] [--path F] [--keep]
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { events: { type: 'string', default: '10000000' }, runs: { type: 'string', default: '3' }, path: { type: 'string' }, keep: { type: 'boolean', default: false } },
});
const tmp = mkdtempSync(join(os.tmpdir(), 'etg-ready-backlog-'));
const path = values.path ?? join(tmp, 'buffer.db');
if (!existsSync(path)) {
  const t0 = performance.now();
  execFileSync(process.execPath, [join(root, 'bench', 'fill-buffer.mjs'), '--path', path, '--events', values.events], { stdio: ['ignore', 'ignore', 'inherit'] });
  console.error(`filled ${Number(values.events).toLocaleString('en-US')} events in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
const config = join(tmp, 'gateway.yaml');
writeFileSync(
  config,
  `gateway: { id: bench }\nlogging: { level: info }\nbuffer: { path: ${path} }\nkafka: { brokers: ['127.0.0.1:1'], connectionTimeout: 1000 }\nhttp: { enabled: false }\nshutdown: { drainTimeout: 500 }\n`,
);

/** One start: ms to 'gateway started', the integrity check the buffer reported, pending events. */
function start() {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [join(root, 'dist', 'cli.js'), 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    let result;
    let opened;
    child.stdout.on('data', (chunk) => {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('"msg":"buffer open"')) opened = JSON.parse(line);
        if (!result && line.includes('"msg":"gateway started"')) {
          result = { ms: performance.now() - t0, integrityCheck: opened?.integrityCheck, pending: opened?.pending };
          child.kill('SIGTERM');
        }
      }
    });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => (result ? resolvePromise(result) : reject(new Error(`gateway exited ${code} before starting: ${stderr}`))));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const clean = [];
const crashed = [];
await start(); // a first start and clean stop: the file is sealed as every later clean start finds it
for (let i = 0; i < Number(values.runs); i++) {
  clean.push(await start());
  rmSync(`${path}.clean`, { force: true }); // as a SIGKILL leaves it: no seal
  crashed.push(await start());
}
const gib = (statSync(path).size / 2 ** 30).toFixed(2);
const load = os.loadavg().map((l) => l.toFixed(1)).join(' / ');
for (const [name, runs] of [
  ['after a clean stop', clean],
  ['after a crash (no seal)', crashed],
]) {
  console.log(
    `${name}: ready in ${median(runs.map((r) => r.ms)).toFixed(0)} ms median (${runs.map((r) => r.ms.toFixed(0)).join(', ')}), integrityCheck ${[...new Set(runs.map((r) => r.integrityCheck))].join('/')}, pending ${runs[0].pending}`,
  );
}
console.log(`file ${gib} GiB, load ${load}`);
if (!values.keep) rmSync(tmp, { recursive: true, force: true });
