// The Node 24 step of `npm test`: the fast part of the suite (vitest.fast.config.ts: unit, golden, native modules,
// MQTT → Kafka end to end) on Node 24 LTS, after vitest ran the whole suite on the machine's Node (20).
//
// Node 24 comes from the npm registry (scripts/node-runtime.mjs); its dependency tree is installed and its native
// modules built by Node 24 itself, in .cache/node-trees/ (once per package-lock.json). The tests run in a copy of
// this checkout (.cache/node24-run/) whose node_modules is that tree: the checkout's own node_modules stays built
// for Node 20, so nothing here breaks the Node 20 run or other processes using the checkout.
//
//   node scripts/test-node24.mjs [vitest arguments…]      e.g. -- test/buffer.test.ts to run one file of the set

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE24, copyCheckout, ensureDependencyTree } from './node-runtime.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runDir = path.join(repoRoot, '.cache', 'node24-run');
const say = (/** @type {string} */ line) => console.log(`[test-node24] ${line}`);

if (!fs.existsSync(path.join(repoRoot, 'dist', 'cli.js'))) {
  console.error('test-node24: dist/cli.js is missing: run `npm run build` first (npm test does, in its pretest step)');
  process.exit(1);
}

const t0 = Date.now();
const tree = await ensureDependencyTree({ version: NODE24, production: false, log: say });
say(`dependencies for Node ${NODE24}: ${path.relative(repoRoot, tree.dir)} (native: ${tree.nativePackages.join(', ')})`);

copyCheckout(runDir, tree.nodeModules);
say(`copy of the checkout in ${path.relative(repoRoot, runDir)} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

const node = tree.runtime.bin;
const filters = process.argv.slice(2);
if (filters[0] === '--') filters.shift();
const args = [path.join(runDir, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', 'vitest.fast.config.ts', ...filters];
say(`Node v${NODE24}: vitest ${args.slice(1).join(' ')}`);
const child = spawn(node, args, {
  cwd: runDir,
  stdio: 'inherit',
  env: {
    ...process.env,
    // Anything the tests start as `node` is Node 24 as well; test/node-runtime.test.ts checks the version.
    PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ''}`,
    ETG_EXPECT_NODE: NODE24,
  },
});
const forward = (/** @type {NodeJS.Signals} */ signal) => child.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
child.on('exit', (code, signal) => {
  say(`Node v${NODE24}: vitest ${signal ? `killed by ${signal}` : `exited ${code}`} after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  process.exit(code ?? 1);
});
