#!/usr/bin/env node
// Runs a real schema registry, Apicurio Registry (in-memory storage), from its runnable distribution on Maven
// Central (scripts/schema-registry/pom.xml), for the tests and for trying kafka.schemaRegistry out.
// Its Confluent-compatible API is at http://127.0.0.1:<port>/apis/ccompat/v7.
//
//   const registry = await startSchemaRegistry({ port: 18081 });
//   registry.url      // 'http://127.0.0.1:18081/apis/ccompat/v7'
//   await registry.stop();
//
//   node scripts/schema-registry.mjs start|stop|status     (env REGISTRY_PORT, default 8081)
//
// Everything binds 127.0.0.1: the HTTP API and Quarkus' management interface (health, metrics), which would
// otherwise listen on 0.0.0.0:9000; that one gets a free port of its own. Needs Java 21+ (see findJava).
// Layout (git-ignored): .cache/schema-registry/<version>/app/ (the unpacked distribution),
//                       .cache/schema-registry/run-<port>/ (registry.log, registry.pid) unless dataDir is given.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureMavenCache, findFreePort, findJava, isPortFree, mavenCopyDependencies, runCommand, runIfMain, startJavaService, stopByPidFile } from './java-service.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
export const registryPom = path.join(here, 'schema-registry', 'pom.xml');
export const CCOMPAT_PATH = '/apis/ccompat/v7';

/** @returns {string} the Apicurio Registry version pinned in scripts/schema-registry/pom.xml */
export function registryVersion() {
  const m = /<apicurio\.version>\s*([^<\s]+)\s*<\/apicurio\.version>/.exec(fs.readFileSync(registryPom, 'utf8'));
  if (!m?.[1]) throw new Error(`no <apicurio.version> in ${registryPom}`);
  return m[1];
}

/** Fetches (once) and unpacks the distribution; returns the folder holding quarkus-run.jar. */
export async function ensureRegistryApp() {
  const version = registryVersion();
  return ensureMavenCache({
    pom: registryPom,
    cacheDir: path.join(repoRoot, '.cache', 'schema-registry', version),
    name: 'app',
    async fetch(tmp) {
      const archives = path.join(tmp, '.archives');
      await mavenCopyDependencies(registryPom, archives);
      const archive = (await fsp.readdir(archives)).find((f) => f.endsWith('.tar.gz'));
      if (!archive) throw new Error(`Maven fetch with ${registryPom} produced no .tar.gz in ${archives}`);
      const untar = await runCommand('tar', ['-xzf', path.join(archives, archive), '-C', tmp], { timeoutMs: 5 * 60_000 });
      if (untar.code !== 0) throw new Error(`tar -xzf ${archive} failed: ${untar.output.slice(-2000)}`);
      await fsp.rm(archives, { recursive: true, force: true });
      return ['quarkus-run.jar', 'lib', 'quarkus'];
    },
  });
}

/** @param {string} baseUrl @returns {Promise<boolean>} whether the Confluent-compatible API answers there */
export async function registryAnswers(baseUrl) {
  const res = await fetch(`${baseUrl}/subjects`, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`GET ${baseUrl}/subjects answered ${res.status}`);
  await res.arrayBuffer();
  return true;
}

/**
 * @typedef {object} StartRegistryOptions
 * @property {number} [port]           HTTP port on 127.0.0.1; default $REGISTRY_PORT or 8081
 * @property {string} [dataDir]        where registry.log and registry.pid go; default .cache/schema-registry/run-<port>
 * @property {number} [heapMb]         -Xmx, default 384
 * @property {number} [timeoutMs]      until the API answers, default 180000
 */

/**
 * Starts Apicurio Registry on 127.0.0.1 and waits until /apis/ccompat/v7/subjects answers.
 * @param {StartRegistryOptions} [opts]
 */
export async function startSchemaRegistry(opts = {}) {
  const port = opts.port ?? Number(process.env.REGISTRY_PORT ?? 8081);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad registry port: ${port}`);
  if (!(await isPortFree(port))) throw new Error(`port ${port} on 127.0.0.1 is already in use`);
  const dataDir = path.resolve(opts.dataDir ?? path.join(repoRoot, '.cache', 'schema-registry', `run-${port}`));
  await fsp.mkdir(dataDir, { recursive: true });
  const [appDir, java] = await Promise.all([ensureRegistryApp(), findJava(21)]);
  let managementPort;
  do managementPort = await findFreePort();
  while (managementPort === port);
  const heapMb = opts.heapMb ?? 384;
  const url = `http://127.0.0.1:${port}${CCOMPAT_PATH}`;
  const service = await startJavaService({
    name: `Apicurio Registry ${registryVersion()} on 127.0.0.1:${port}`,
    java,
    args: [
      `-Xmx${heapMb}m`,
      '-XX:+UseSerialGC',
      '-XX:+ExitOnOutOfMemoryError',
      '-XX:TieredStopAtLevel=1', // starts faster; the tests send a few dozen requests
      '-Djava.awt.headless=true',
      '-Dquarkus.http.host=127.0.0.1',
      `-Dquarkus.http.port=${port}`,
      '-Dquarkus.management.host=127.0.0.1',
      `-Dquarkus.management.port=${managementPort}`,
      '-Dquarkus.http.access-log.enabled=false',
      '-jar',
      path.join(appDir, 'quarkus-run.jar'),
    ],
    cwd: dataDir,
    logFile: path.join(dataDir, 'registry.log'),
    pidFile: path.join(dataDir, 'registry.pid'),
    timeoutMs: opts.timeoutMs ?? 180_000,
    probe: () => registryAnswers(url),
  });
  return { ...service, port, managementPort, url, dataDir };
}

async function main() {
  const cmd = process.argv[2];
  const port = Number(process.env.REGISTRY_PORT ?? 8081);
  const url = `http://127.0.0.1:${port}${CCOMPAT_PATH}`;
  if (cmd === 'start') {
    if (await registryAnswers(url).catch(() => false)) {
      console.log(`a schema registry already answers at ${url}`);
      return 0;
    }
    const registry = await startSchemaRegistry({ port });
    console.log(`schema registry: ${registry.url} (pid ${registry.pid}, log ${registry.logFile})`);
    return 0;
  }
  if (cmd === 'stop') {
    console.log((await stopByPidFile(path.join(repoRoot, '.cache', 'schema-registry', `run-${port}`, 'registry.pid'), 'quarkus-run.jar')) ? `stopped the registry on ${port}` : `no registry started by this script runs on ${port}`);
    return 0;
  }
  if (cmd === 'status') {
    const up = await registryAnswers(url).catch(() => false);
    console.log(up ? `answers at ${url}` : `nothing answers at ${url}`);
    return up ? 0 : 1;
  }
  console.error('usage: node scripts/schema-registry.mjs start|stop|status   (env REGISTRY_PORT, default 8081)');
  return 2;
}

runIfMain(import.meta.url, main);
