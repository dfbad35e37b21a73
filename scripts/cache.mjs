// Helpers for what the scripts keep under .cache/ (Kafka jars, Node.js runtimes, dependency trees built for them):
// fill a cache entry once even when several processes (vitest workers, a benchmark next to the tests) ask at the
// same time, and run the command that fills it with its output kept for the error message.
//
// Importable ESM (plain JS + JSDoc, no build step); types in cache.d.mts.

import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** @param {number} pid @returns {boolean} */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return /** @type {NodeJS.ErrnoException} */ (e).code === 'EPERM';
  }
}

/**
 * Runs `fill` unless `isComplete` already holds, with the lock directory `lockDir` held (mkdir is atomic), so one
 * process fills and the others wait and then find the entry complete. A lock whose owner process is gone, or older
 * than `staleMs` without an owner file, is taken over.
 * @param {string} lockDir
 * @param {() => boolean | Promise<boolean>} isComplete
 * @param {() => Promise<void>} fill
 * @param {{ staleMs?: number, timeoutMs?: number }} [opts]
 * @returns {Promise<void>}
 */
export async function fillOnce(lockDir, isComplete, fill, opts = {}) {
  if (await isComplete()) return;
  const staleMs = opts.staleMs ?? 10 * 60_000;
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  const ownerFile = path.join(lockDir, 'owner.pid');
  await fsp.mkdir(path.dirname(lockDir), { recursive: true });
  for (;;) {
    try {
      await fsp.mkdir(lockDir);
      await fsp.writeFile(ownerFile, String(process.pid));
      break;
    } catch (e) {
      if (/** @type {NodeJS.ErrnoException} */ (e).code !== 'EEXIST') throw e;
      if (await isComplete()) return;
      const owner = Number(await fsp.readFile(ownerFile, 'utf8').catch(() => ''));
      const age = Date.now() - (await fsp.stat(lockDir).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (owner > 0 ? !alive(owner) : age > staleMs) await fsp.rm(lockDir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockDir} (held by pid ${owner || '?'})`, { cause: e });
      await sleep(500);
    }
  }
  try {
    if (!(await isComplete())) await fill();
  } finally {
    await fsp.rm(lockDir, { recursive: true, force: true });
  }
}

/**
 * Runs a command to its end, stdout and stderr collected together.
 * @param {string} cmd @param {string[]} args
 * @param {{ timeoutMs?: number, cwd?: string, env?: NodeJS.ProcessEnv }} [opts]
 * @returns {Promise<{ code: number | null, output: string }>}
 */
export function runCommand(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          output += `\n[killed after ${opts.timeoutMs} ms]`;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
