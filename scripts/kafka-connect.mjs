#!/usr/bin/env node
// Runs a real Kafka Connect worker (standalone mode) with Debezium's JDBC sink connector, both from Maven Central
// (scripts/kafka-connect/pom.xml), for the tests and for examples/postgres-sink.
//
//   const worker = await startConnectWorker({ bootstrap: '127.0.0.1:9092', port: 18083 });
//   await putConnector(worker.restUrl, 'readings-postgres', { ...connector config });
//   await worker.stop();
//
//   node scripts/kafka-connect.mjs start|stop|status
//        (env KAFKA_BOOTSTRAP default 127.0.0.1:9092, CONNECT_PORT default 8083)
//
// The REST API binds 127.0.0.1. Offsets of the sink live in Kafka (consumer group connect-<name>); the standalone
// worker's own offset file (source connectors only) is in its data dir.
// Layout (git-ignored): .cache/kafka-connect/<versions>/{lib,plugins}/,
//                       .cache/kafka-connect/run-<port>/ (worker.properties, connect.log, connect.pid).

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultJava, ensureMavenCache, isPortFree, mavenCopyDependencies, runCommand, runIfMain, startJavaService, stopByPidFile, toProperties } from './java-service.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
export const connectPom = path.join(here, 'kafka-connect', 'pom.xml');

/** @param {string} name @returns {string} a property of scripts/kafka-connect/pom.xml */
function pomProperty(name) {
  const m = new RegExp(`<${name.replace(/\./g, '\\.')}>\\s*([^<\\s]+)\\s*</`).exec(fs.readFileSync(connectPom, 'utf8'));
  if (!m?.[1]) throw new Error(`no <${name}> in ${connectPom}`);
  return m[1];
}

export function connectVersions() {
  return { connect: pomProperty('connect.version'), debezium: pomProperty('debezium.version') };
}

/**
 * Fetches (once) the worker's classpath and the unpacked connector plugin.
 * @returns {Promise<{ libDir: string, pluginDir: string }>}
 */
export async function ensureConnectWorker() {
  const v = connectVersions();
  const root = await ensureMavenCache({
    pom: connectPom,
    cacheDir: path.join(repoRoot, '.cache', 'kafka-connect', `${v.connect}-debezium-${v.debezium}`),
    name: 'dist',
    async fetch(tmp) {
      const lib = path.join(tmp, 'lib');
      const archives = path.join(tmp, '.archives');
      const plugins = path.join(tmp, 'plugins');
      await mavenCopyDependencies(connectPom, lib, ['-DexcludeTypes=tar.gz', '-DincludeScope=runtime']);
      await mavenCopyDependencies(connectPom, archives, ['-DincludeTypes=tar.gz']);
      await fsp.mkdir(plugins, { recursive: true });
      for (const archive of (await fsp.readdir(archives)).filter((f) => f.endsWith('.tar.gz'))) {
        const untar = await runCommand('tar', ['-xzf', path.join(archives, archive), '-C', plugins], { timeoutMs: 5 * 60_000 });
        if (untar.code !== 0) throw new Error(`tar -xzf ${archive} failed: ${untar.output.slice(-2000)}`);
      }
      await fsp.rm(archives, { recursive: true, force: true });
      return [`lib/connect-runtime-${v.connect}.jar`, `lib/connect-json-${v.connect}.jar`, `plugins/debezium-connector-jdbc/debezium-connector-jdbc-${v.debezium}.jar`];
    },
  });
  return { libDir: path.join(root, 'lib'), pluginDir: path.join(root, 'plugins') };
}

const LOG4J2 = `# Written by scripts/kafka-connect.mjs: everything to stdout (redirected to connect.log).
status = warn
name = kafka-connect-test-worker
shutdownHook = disable
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.hibernate.name = org.hibernate
logger.hibernate.level = WARN
`;

/** @param {string} restUrl @returns {Promise<boolean>} whether the worker's REST API answers and lists the JDBC sink */
export async function workerAnswers(restUrl) {
  const res = await fetch(`${restUrl}/connector-plugins`, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`GET ${restUrl}/connector-plugins answered ${res.status}`);
  const plugins = /** @type {{ class: string }[]} */ (await res.json());
  if (!plugins.some((p) => p.class === 'io.debezium.connector.jdbc.JdbcSinkConnector')) {
    throw new Error(`the worker at ${restUrl} does not list io.debezium.connector.jdbc.JdbcSinkConnector: ${JSON.stringify(plugins)}`);
  }
  return true;
}

/**
 * @typedef {object} StartConnectOptions
 * @property {string} bootstrap       Kafka bootstrap, host:port
 * @property {number} [port]          REST port on 127.0.0.1; default $CONNECT_PORT or 8083
 * @property {string} [dataDir]       default .cache/kafka-connect/run-<port>
 * @property {number} [heapMb]        -Xmx, default 512
 * @property {number} [timeoutMs]     until the REST API answers, default 180000
 */

/**
 * Starts a standalone worker (JsonConverter for values, StringConverter for keys; connectors may override) and
 * waits until its REST API lists the JDBC sink.
 * @param {StartConnectOptions} opts
 */
export async function startConnectWorker(opts) {
  const port = opts.port ?? Number(process.env.CONNECT_PORT ?? 8083);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad Connect port: ${port}`);
  if (!(await isPortFree(port))) throw new Error(`port ${port} on 127.0.0.1 is already in use`);
  const dataDir = path.resolve(opts.dataDir ?? path.join(repoRoot, '.cache', 'kafka-connect', `run-${port}`));
  await fsp.mkdir(dataDir, { recursive: true });
  const { libDir, pluginDir } = await ensureConnectWorker();
  const restUrl = `http://127.0.0.1:${port}`;
  const props = {
    'bootstrap.servers': opts.bootstrap,
    'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
    'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'value.converter.schemas.enable': 'true',
    'offset.storage.file.filename': path.join(dataDir, 'connect.offsets'),
    'offset.flush.interval.ms': '2000',
    'plugin.path': pluginDir,
    // The Debezium plugin declares its classes in META-INF/services: no classpath scan (seconds on 2 cores).
    'plugin.discovery': 'service_load',
    listeners: restUrl,
    'rest.advertised.host.name': '127.0.0.1',
    'rest.advertised.port': String(port),
  };
  const propsFile = path.join(dataDir, 'worker.properties');
  await fsp.writeFile(propsFile, `# Written by scripts/kafka-connect.mjs at ${new Date().toISOString()}\n${toProperties(props)}`);
  const log4jFile = path.join(dataDir, 'log4j2.properties');
  await fsp.writeFile(log4jFile, LOG4J2);
  const heapMb = opts.heapMb ?? 512;
  const v = connectVersions();
  const service = await startJavaService({
    name: `Kafka Connect ${v.connect} (Debezium JDBC sink ${v.debezium}) on ${restUrl}`,
    java: defaultJava(),
    args: [
      `-Xmx${heapMb}m`,
      '-XX:+UseSerialGC',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${log4jFile}`,
      '-cp',
      `${libDir}${path.sep}*`,
      'org.apache.kafka.connect.cli.ConnectStandalone',
      propsFile,
    ],
    cwd: dataDir,
    logFile: path.join(dataDir, 'connect.log'),
    pidFile: path.join(dataDir, 'connect.pid'),
    timeoutMs: opts.timeoutMs ?? 180_000,
    probe: () => workerAnswers(restUrl),
  });
  return { ...service, port, restUrl, dataDir };
}

/**
 * Creates or updates a connector (PUT /connectors/<name>/config).
 * @param {string} restUrl @param {string} name @param {Record<string, string>} config
 */
export async function putConnector(restUrl, name, config) {
  const res = await fetch(`${restUrl}/connectors/${encodeURIComponent(name)}/config`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(config),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`PUT ${restUrl}/connectors/${name}/config answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

/**
 * @param {string} restUrl @param {string} name
 * @returns {Promise<{ connector: { state: string }, tasks: { id: number, state: string, trace?: string }[] }>}
 */
export async function connectorStatus(restUrl, name) {
  const res = await fetch(`${restUrl}/connectors/${encodeURIComponent(name)}/status`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${restUrl}/connectors/${name}/status answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

async function main() {
  const cmd = process.argv[2];
  const port = Number(process.env.CONNECT_PORT ?? 8083);
  const restUrl = `http://127.0.0.1:${port}`;
  if (cmd === 'start') {
    if (await workerAnswers(restUrl).catch(() => false)) {
      console.log(`a Connect worker with the JDBC sink already answers at ${restUrl}`);
      return 0;
    }
    const worker = await startConnectWorker({ bootstrap: process.env.KAFKA_BOOTSTRAP ?? '127.0.0.1:9092', port });
    console.log(`Kafka Connect: ${worker.restUrl} (pid ${worker.pid}, log ${worker.logFile})`);
    return 0;
  }
  if (cmd === 'stop') {
    console.log((await stopByPidFile(path.join(repoRoot, '.cache', 'kafka-connect', `run-${port}`, 'connect.pid'), 'ConnectStandalone')) ? `stopped the Connect worker on ${port}` : `no Connect worker started by this script runs on ${port}`);
    return 0;
  }
  if (cmd === 'status') {
    const up = await workerAnswers(restUrl).catch(() => false);
    console.log(up ? `answers at ${restUrl}` : `nothing answers at ${restUrl}`);
    return up ? 0 : 1;
  }
  console.error('usage: node scripts/kafka-connect.mjs start|stop|status   (env KAFKA_BOOTSTRAP, CONNECT_PORT)');
  return 2;
}

runIfMain(import.meta.url, main);
