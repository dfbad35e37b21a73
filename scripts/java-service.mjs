// What the test services that run on the JVM share (the Kafka broker, the schema registry, the Kafka Connect
// worker): fetching their artifacts with Maven once into .cache/, processes, ports, log tails.
//
// Importable ESM (plain JS + JSDoc, no build step); types in java-service.d.mts.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fillOnce, runCommand } from './cache.mjs';

export const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

export { runCommand };

/**
 * Whether `cacheDir/<name>` holds a complete fetch made from this pom (what ensureMavenCache would use without
 * fetching): its `.complete` marker names the pom's hash and every file it listed is there.
 * @param {{ pom: string, cacheDir: string, name: string }} o
 */
export function mavenCacheComplete(o) {
  const target = path.join(o.cacheDir, o.name);
  try {
    const pomHash = createHash('sha256').update(fs.readFileSync(o.pom)).digest('hex');
    const m = JSON.parse(fs.readFileSync(path.join(o.cacheDir, '.complete'), 'utf8'));
    return m.pomSha256 === pomHash && Array.isArray(m.files) && m.files.length > 0 && m.files.every((/** @type {string} */ f) => fs.existsSync(path.join(target, f)));
  } catch {
    return false;
  }
}

/**
 * Makes sure `cacheDir/<name>` holds what `fetch` produces from a Maven pom, fetching only when it is missing or
 * was made from another pom (a `.complete` marker records the pom's hash and `check`'s list of files).
 * Safe to call from several processes at once: a lock dir serializes the fetch.
 * @param {object} o
 * @param {string} o.pom          the pom.xml that pins the versions
 * @param {string} o.cacheDir     e.g. .cache/schema-registry/3.3.3
 * @param {string} o.name         the folder inside cacheDir that fetch fills
 * @param {(tmpDir: string) => Promise<string[]>} o.fetch  fills tmpDir; returns the files that must exist afterwards (relative)
 * @returns {Promise<string>} absolute path of cacheDir/name
 */
export async function ensureMavenCache(o) {
  const target = path.join(o.cacheDir, o.name);
  const marker = path.join(o.cacheDir, '.complete');
  const pomHash = createHash('sha256').update(fs.readFileSync(o.pom)).digest('hex');
  const complete = () => mavenCacheComplete(o);
  if (complete()) return target;

  await fillOnce(
    path.join(o.cacheDir, '.fetch.lock'),
    complete,
    async () => {
      const tmp = path.join(o.cacheDir, `${o.name}.tmp-${process.pid}`);
      await fsp.rm(tmp, { recursive: true, force: true });
      await fsp.mkdir(tmp, { recursive: true });
      let files;
      try {
        files = await o.fetch(tmp);
        const missing = files.filter((f) => !fs.existsSync(path.join(tmp, f)));
        if (files.length === 0 || missing.length > 0) throw new Error(`the fetch with ${o.pom} did not produce ${missing.join(', ') || 'any file'} in ${tmp}`);
      } catch (e) {
        await fsp.rm(tmp, { recursive: true, force: true });
        throw e;
      }
      await fsp.rm(target, { recursive: true, force: true });
      await fsp.rename(tmp, target);
      await fsp.writeFile(marker, JSON.stringify({ pom: path.basename(path.dirname(o.pom)), pomSha256: pomHash, files, fetchedAt: new Date().toISOString() }, null, 2));
    },
    { timeoutMs: 15 * 60_000 },
  );
  return target;
}

/**
 * `mvn dependency:copy-dependencies` of a pom into a folder; throws with Maven's output on failure.
 * @param {string} pom @param {string} outputDir @param {string[]} [extraArgs]
 */
export async function mavenCopyDependencies(pom, outputDir, extraArgs = []) {
  const args = ['-q', '-B', '-Dstyle.color=never', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${outputDir}`, ...extraArgs];
  const { code, output } = await runCommand('mvn', args, { timeoutMs: 15 * 60_000 });
  if (code !== 0) throw new Error(`mvn ${args.join(' ')} failed (exit ${code}):\n${output.slice(-6000)}`);
}

/** @param {string} [host] @returns {Promise<number>} a TCP port that was free a moment ago */
export function findFreePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** @param {number} port @param {string} [host] @returns {Promise<boolean>} whether we can bind it now */
export function isPortFree(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * @param {number} pid
 * @returns {boolean} alive; a zombie counts as gone once all its threads are gone (a JVM's
 *   main thread turns zombie while other threads still exit and still hold its sockets)
 */
export function pidAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return /** @type {NodeJS.ErrnoException} */ (e).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state !== 'Z' && state !== 'X') return true;
    try {
      return fs.readdirSync(`/proc/${pid}/task`).length > 1;
    } catch {
      return false;
    }
  } catch {
    return !fs.existsSync('/proc/self'); // gone from /proc, or no /proc: trust kill(0)
  }
}

/** @param {number} pid @param {number} timeoutMs @returns {Promise<boolean>} true when gone */
export async function waitForExit(pid, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** SIGTERM, wait up to termTimeoutMs, then SIGKILL; resolves when the process is gone. */
export async function terminate(/** @type {number} */ pid, termTimeoutMs = 30_000) {
  if (!pidAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitForExit(pid, termTimeoutMs)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  if (!(await waitForExit(pid, 15_000))) throw new Error(`process ${pid} did not exit after SIGKILL`);
}

/** @param {Record<string, string>} props @returns {string} a Java .properties file */
export function toProperties(props) {
  const esc = (/** @type {string} */ s) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return (
    Object.entries(props)
      .map(([k, v]) => `${k}=${esc(String(v))}`)
      .join('\n') + '\n'
  );
}

/**
 * @param {string} file @param {number} lines
 * @returns {string} the last `lines` lines of a (possibly large) text file
 */
export function tailFile(file, lines) {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, 512 * 1024);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8').split('\n').slice(-lines - 1).join('\n').trimEnd();
  } catch (e) {
    return `(no log at ${file}: ${/** @type {Error} */ (e).message})`;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The `java` of JAVA_HOME, else the one on PATH. */
export function defaultJava() {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** @param {string} java @returns {Promise<number | undefined>} the feature version (17, 21, 25, …) */
export async function javaMajorVersion(java) {
  const { code, output } = await runCommand(java, ['-version']).catch(() => ({ code: 1, output: '' }));
  if (code !== 0) return undefined;
  const m = /version "(\d+)(?:\.(\d+))?/.exec(output);
  if (!m?.[1]) return undefined;
  const major = Number(m[1]);
  return major === 1 ? Number(m[2]) : major; // "1.8.0" is Java 8
}

/**
 * A Java 21+ runtime: $JAVA21_HOME, then JAVA_HOME, then `java` on PATH, then the newest JDK under /usr/lib/jvm.
 * @param {number} minimum
 * @returns {Promise<string>} path of its java
 */
export async function findJava(minimum) {
  const candidates = [
    ...(process.env.JAVA21_HOME ? [path.join(process.env.JAVA21_HOME, 'bin', 'java')] : []),
    defaultJava(),
    ...fs
      .readdirSync('/usr/lib/jvm', { withFileTypes: true })
      .filter((d) => d.isDirectory() || d.isSymbolicLink())
      .map((d) => path.join('/usr/lib/jvm', d.name, 'bin', 'java'))
      .filter((j) => fs.existsSync(j))
      .sort()
      .reverse(),
  ];
  const seen = [];
  for (const java of candidates) {
    const v = await javaMajorVersion(java);
    seen.push(`${java}: ${v ?? 'not runnable'}`);
    if (v !== undefined && v >= minimum) return java;
  }
  throw new Error(`no Java ${minimum}+ found (set JAVA21_HOME or JAVA_HOME); tried ${seen.join('; ')}`);
}

/**
 * @typedef {object} JavaServiceHandle
 * @property {number} pid
 * @property {string} logFile
 * @property {() => Promise<void>} stop   SIGTERM, up to 30 s, then SIGKILL; resolves when gone
 * @property {(signal?: NodeJS.Signals | number) => void} kill
 * @property {(lines?: number) => string} logTail
 * @property {() => Promise<boolean>} waitForExit  resolves (true) once the process is gone (max 30 s)
 */

/**
 * Starts a detached JVM with its output appended to logFile and waits until `probe` resolves true.
 * @param {object} o
 * @param {string} o.name        for messages, e.g. 'schema registry'
 * @param {string} o.java
 * @param {string[]} o.args      JVM flags, main class or -jar, program arguments
 * @param {string} o.cwd
 * @param {string} o.logFile
 * @param {string} o.pidFile
 * @param {() => Promise<boolean>} o.probe  true once the service answers (a throw counts as not yet, and its
 *   message is the "last error" of a timeout)
 * @param {number} o.timeoutMs
 * @returns {Promise<JavaServiceHandle>}
 */
export async function startJavaService(o) {
  const deadline = Date.now() + o.timeoutMs;
  const out = fs.openSync(o.logFile, 'a');
  fs.writeSync(out, `\n===== ${new Date().toISOString()} starting ${o.name}: ${o.java} ${o.args.join(' ')} =====\n`);
  let child;
  try {
    child = spawn(o.java, o.args, { cwd: o.cwd, detached: true, stdio: ['ignore', out, out] });
  } finally {
    fs.closeSync(out);
  }
  /** @type {{ code: number | null, signal: NodeJS.Signals | null } | undefined} */
  let exited;
  /** @type {Error | undefined} */
  let spawnError;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  child.on('error', (e) => (spawnError = e));
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    await sleep(0);
    throw new Error(`could not start ${o.java}: ${spawnError?.message ?? 'no pid'}`);
  }
  await fsp.writeFile(o.pidFile, `${pid}\n`);
  const gone = () => exited !== undefined || !pidAlive(pid);
  const logTail = (lines = 60) => tailFile(o.logFile, lines);
  const ownsPidFile = () => {
    try {
      return Number.parseInt(fs.readFileSync(o.pidFile, 'utf8'), 10) === pid;
    } catch {
      return false;
    }
  };
  /** @type {JavaServiceHandle} */
  const handle = {
    pid,
    logFile: o.logFile,
    logTail,
    kill(signal = 'SIGTERM') {
      if (!gone()) process.kill(pid, signal);
    },
    async waitForExit() {
      const until = Date.now() + 30_000;
      while (!gone()) {
        if (Date.now() > until) return false;
        await sleep(100);
      }
      return true;
    },
    async stop() {
      await terminate(pid);
      while (!gone()) await sleep(50);
      if (ownsPidFile()) await fsp.rm(o.pidFile, { force: true });
    },
  };
  /** @type {unknown} */
  let lastError = spawnError;
  for (;;) {
    if (gone()) {
      await fsp.rm(o.pidFile, { force: true });
      throw new Error(
        `${o.name} exited during startup (${exited ? `code ${exited.code}, signal ${exited.signal}` : 'process gone'}).\n--- last lines of ${o.logFile} ---\n${logTail(60)}`,
      );
    }
    const up = await o.probe().catch((e) => {
      lastError = e;
      return false;
    });
    if (up && !gone()) return handle;
    if (Date.now() >= deadline) {
      await handle.stop().catch(() => {});
      const last = lastError === undefined ? '' : ` (last error: ${/** @type {Error} */ (lastError)?.message ?? lastError})`;
      throw new Error(`${o.name} did not answer within ${o.timeoutMs} ms${last}.\n--- last lines of ${o.logFile} ---\n${logTail(60)}`);
    }
    await sleep(250);
  }
}

/**
 * Stops the process a pid file names, if it still is the service (its command line contains `marker`: a pid
 * may have been reused since).
 * @param {string} pidFile @param {string} marker
 * @returns {Promise<boolean>} whether one was stopped
 */
export async function stopByPidFile(pidFile, marker) {
  const pid = Number.parseInt(await fsp.readFile(pidFile, 'utf8').catch(() => ''), 10);
  if (!Number.isInteger(pid) || !pidAlive(pid)) return false;
  const cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes(marker)) return false;
  await terminate(pid);
  await fsp.rm(pidFile, { force: true });
  return true;
}

/**
 * Runs `main` when the module is the script node was started with, exiting with its code (1 and the message on
 * an error).
 * @param {string} moduleUrl  import.meta.url of the script
 * @param {() => Promise<number>} main
 */
export function runIfMain(moduleUrl, main) {
  if (!process.argv[1] || path.resolve(process.argv[1]) !== path.resolve(new URL(moduleUrl).pathname)) return;
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
