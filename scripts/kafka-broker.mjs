// Runs a real single-node Apache Kafka broker (KRaft, combined broker + controller)
// from the official jars, fetched from Maven Central with scripts/kafka/pom.xml.
//
// Importable ESM (plain JS + JSDoc, no build step); types in kafka-broker.d.mts.
// Used by scripts/kafka.mjs (CLI) and test/global-setup.ts (vitest).
//
//   const broker = await startBroker({ port: 19092 });
//   broker.bootstrap   // '127.0.0.1:19092'
//   await broker.stop();
//
// Layout (all git-ignored under .cache/):
//   .cache/kafka/<kafka.version>/lib/*.jar     jars (fetched once; .complete marker)
//   .cache/kafka/run-<port>/                   default dataDir of a broker on <port>
//       server.properties, log4j2.properties, broker.log, broker.pid, broker-state.json,
//       kraft-logs/ (meta.properties, __cluster_metadata-0, topic partitions)

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import {
  defaultJava,
  ensureMavenCache,
  mavenCacheComplete,
  findFreePort,
  isPortFree,
  mavenCopyDependencies,
  pidAlive,
  runCommand,
  sleep,
  startJavaService,
  terminate,
  toProperties,
  waitForExit,
} from './java-service.mjs';

export { findFreePort, isPortFree };

const { Kafka, logLevel } = kafkajs;

const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root (this file lives in <root>/scripts). */
export const repoRoot = path.resolve(here, '..');
/** The Maven project that pins the Kafka version (the ONE place it is pinned). */
export const kafkaPom = path.join(here, 'kafka', 'pom.xml');

const PID_FILE = 'broker.pid';
const LOG_FILE = 'broker.log';
const STATE_FILE = 'broker-state.json';
const PROPS_FILE = 'server.properties';
const LOG4J_FILE = 'log4j2.properties';
const LOG_DIR = 'kraft-logs';
const NODE_ID = 1;

/** @returns {string} the Kafka version pinned in scripts/kafka/pom.xml */
export function kafkaVersion() {
  const pom = fs.readFileSync(kafkaPom, 'utf8');
  const m = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(pom);
  if (!m?.[1]) throw new Error(`no <kafka.version> property in ${kafkaPom}`);
  return m[1];
}

/** @param {number} port @returns {string} default dataDir of a broker on that port */
export function defaultDataDir(port) {
  return path.join(repoRoot, '.cache', 'kafka', `run-${port}`);
}

// ---------------------------------------------------------------------------
// Jars
// ---------------------------------------------------------------------------

/** Where the broker jars are cached: .cache/kafka/<version>/lib, fetched with the Kafka pom. */
function kafkaJarsCache() {
  return { pom: kafkaPom, cacheDir: path.join(repoRoot, '.cache', 'kafka', kafkaVersion()), name: 'lib' };
}

/** Whether ensureKafkaJars() will find the jars cached (no Maven fetch). */
export function kafkaJarsCached() {
  return mavenCacheComplete(kafkaJarsCache());
}

/**
 * Makes sure the broker jars are in .cache/kafka/<version>/lib (fetching them with
 * Maven when the cache is missing or was made from another pom.xml) and returns that dir.
 * Safe to call from several processes at once (a lock dir serialises the fetch).
 * @returns {Promise<string>} absolute path of the lib dir
 */
export async function ensureKafkaJars() {
  const version = kafkaVersion();
  const mainJar = `kafka_2.13-${version}.jar`;
  return ensureMavenCache({
    ...kafkaJarsCache(),
    async fetch(tmp) {
      await mavenCopyDependencies(kafkaPom, tmp);
      const jars = (await fsp.readdir(tmp)).filter((f) => f.endsWith('.jar')).sort();
      if (!jars.includes(mainJar)) throw new Error(`Maven fetch did not produce ${mainJar} in ${tmp}`);
      return jars;
    },
  });
}

// ---------------------------------------------------------------------------
// Ports and processes
// ---------------------------------------------------------------------------

/**
 * Whether pid is a Kafka broker started for this dataDir (guards against pid reuse).
 * @param {number} pid @param {string} dataDir
 */
function isOurBroker(pid, dataDir) {
  if (!pidAlive(pid)) return false;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes('kafka.Kafka') && cmdline.includes(path.join(dataDir, PROPS_FILE));
  } catch {
    return true; // no /proc to check against: trust the pid file
  }
}

/** @param {string} dataDir @returns {number | undefined} */
function readPid(dataDir) {
  try {
    const pid = Number.parseInt(fs.readFileSync(path.join(dataDir, PID_FILE), 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Probe
// ---------------------------------------------------------------------------

/**
 * One metadata round trip with kafkajs (connect + describeCluster).
 * @param {string} bootstrap host:port
 * @param {number} [timeoutMs]
 * @returns {Promise<{ clusterId: string, brokers: { nodeId: number, host: string, port: number }[] }>}
 */
export async function describeCluster(bootstrap, timeoutMs = 3000) {
  const kafka = new Kafka({
    clientId: 'kafka-broker-probe',
    brokers: [bootstrap],
    connectionTimeout: Math.min(timeoutMs, 2000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  try {
    const work = (async () => {
      await admin.connect();
      return admin.describeCluster();
    })();
    work.catch(() => {});
    return await Promise.race([
      work,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no metadata answer from ${bootstrap} in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await admin.disconnect().catch(() => {});
  }
}

/**
 * @param {number} port @param {string} [host]
 * @returns {Promise<boolean>} whether a Kafka broker answers a metadata request there
 */
export async function isBrokerUp(port, host = '127.0.0.1') {
  try {
    await describeCluster(`${host}:${port}`, 3000);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/** @param {string} file @returns {Record<string, string>} (simple key=value files we wrote ourselves) */
function readProperties(file) {
  /** @type {Record<string, string>} */
  const out = {};
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#') || t.startsWith('!')) continue;
    const i = t.search(/[=:]/);
    if (i > 0) out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

const LOG4J2 = `# Written by scripts/kafka-broker.mjs: everything to stdout (redirected to broker.log).
status = warn
name = kafka-test-broker
# the JVM exits on SIGTERM; a Console appender needs no flush, and this avoids a WARN at exit
shutdownHook = disable
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
logger.clientconfig.name = org.apache.kafka.common.config.AbstractConfig
logger.clientconfig.level = WARN
`;

/**
 * @typedef {'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL'} SecurityProtocol
 * @typedef {object} ExtraListener  an additional client listener, e.g. for TLS or SASL
 * @property {string} name            listener name, e.g. 'SSL' or 'EXTERNAL' (not PLAINTEXT/CONTROLLER)
 * @property {number} port
 * @property {SecurityProtocol} [protocol]  defaults to name when that is a protocol, else error
 * @property {string} [host]          bind host, default 127.0.0.1
 * @property {string} [advertisedHost] default = host
 * @property {number} [advertisedPort] default = port (e.g. a fault proxy's port, so clients come back through it)
 */

/**
 * @param {{ port: number, controllerPort: number, logDir: string, nodeId: number,
 *           listeners: ExtraListener[], extraProperties: Record<string, string> }} o
 * @returns {Record<string, string>}
 */
function brokerProperties(o) {
  const protocols = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'];
  const listeners = [`PLAINTEXT://127.0.0.1:${o.port}`, `CONTROLLER://127.0.0.1:${o.controllerPort}`];
  const advertised = [`PLAINTEXT://127.0.0.1:${o.port}`, `CONTROLLER://127.0.0.1:${o.controllerPort}`];
  /** @type {Map<string, string>} */
  const protoMap = new Map([['CONTROLLER', 'PLAINTEXT'], ...protocols.map((p) => /** @type {[string,string]} */ ([p, p]))]);
  for (const l of o.listeners) {
    const name = l.name.toUpperCase();
    if (name === 'PLAINTEXT' || name === 'CONTROLLER') throw new Error(`listener name ${name} is reserved`);
    const protocol = l.protocol ?? (protocols.includes(name) ? /** @type {SecurityProtocol} */ (name) : undefined);
    if (!protocol) throw new Error(`listener ${name}: give a protocol (${protocols.join('|')})`);
    const host = l.host ?? '127.0.0.1';
    listeners.push(`${name}://${host}:${l.port}`);
    advertised.push(`${name}://${l.advertisedHost ?? host}:${l.advertisedPort ?? l.port}`);
    protoMap.set(name, protocol);
  }
  /** @type {Record<string, string>} */
  const props = {
    'process.roles': 'broker,controller',
    'node.id': String(o.nodeId),
    'controller.listener.names': 'CONTROLLER',
    'controller.quorum.bootstrap.servers': `127.0.0.1:${o.controllerPort}`,
    listeners: listeners.join(','),
    'advertised.listeners': advertised.join(','),
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': [...protoMap].map(([k, v]) => `${k}:${v}`).join(','),
    'log.dirs': o.logDir,
    'num.partitions': '3',
    'default.replication.factor': '1',
    'min.insync.replicas': '1',
    'offsets.topic.replication.factor': '1',
    'offsets.topic.num.partitions': '10',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'transaction.state.log.num.partitions': '10',
    'share.coordinator.state.topic.replication.factor': '1',
    'share.coordinator.state.topic.min.isr': '1',
    'auto.create.topics.enable': 'true',
    'delete.topic.enable': 'true',
    'group.initial.rebalance.delay.ms': '0',
    // After a SIGKILL the restarted broker cannot register until the old registration's
    // session expires (DUPLICATE_BROKER_REGISTRATION): 9 s by default, 4 s here.
    'broker.heartbeat.interval.ms': '1000',
    'broker.session.timeout.ms': '4000',
    // light on a 2-core box
    'num.network.threads': '2',
    'num.io.threads': '4',
    'num.recovery.threads.per.data.dir': '1',
    'log.cleaner.dedupe.buffer.size': String(16 * 1024 * 1024),
    ...o.extraProperties,
  };
  // A static quorum given in extraProperties replaces the dynamic (--standalone) one.
  if (o.extraProperties['controller.quorum.voters'] && !o.extraProperties['controller.quorum.bootstrap.servers']) {
    delete props['controller.quorum.bootstrap.servers'];
  }
  return props;
}

/** A Kafka cluster id: 16 random bytes, base64url without padding (22 chars), not starting with '-'. */
function newClusterId() {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

// ---------------------------------------------------------------------------
// Start / stop
// ---------------------------------------------------------------------------

/**
 * @typedef {object} StartBrokerOptions
 * @property {number} [port]  PLAINTEXT port on 127.0.0.1; default $KAFKA_PORT or 9092
 * @property {string} [dataDir]  default .cache/kafka/run-<port>; reused (not reformatted) when formatted
 * @property {Record<string, string>} [extraProperties]  merged last into server.properties
 *   (may override listeners, advertised.listeners, listener.security.protocol.map, ...)
 * @property {ExtraListener[]} [listeners]  extra client listeners (SSL, SASL_SSL, ...)
 * @property {number} [heapMb]  -Xmx, default 512
 * @property {number} [timeoutMs]  until it answers metadata, default 120000
 * @property {string[]} [jvmArgs]  extra JVM flags
 * @property {ScramCredential[]} [scramCredentials]  SCRAM users created when the storage is formatted
 *   (first start of a dataDir only; ignored on a restart)
 * @property {number} [nodeId]  KRaft node id, default 1 (a cluster gives each node its own)
 * @property {number} [controllerPort]  CONTROLLER port, default: kept from the last start of this dataDir, else free
 * @property {string} [clusterId]  cluster id used when formatting (a cluster's nodes share one); default random
 */

/**
 * @typedef {object} ScramCredential
 * @property {'SCRAM-SHA-256' | 'SCRAM-SHA-512'} mechanism
 * @property {string} name
 * @property {string} password  (no ',', ']' or '"': StorageTool's --add-scram syntax has no escaping)
 */

/**
 * @typedef {object} BrokerHandle
 * @property {number} port
 * @property {string} bootstrap  '127.0.0.1:<port>'
 * @property {number} pid
 * @property {string} dataDir
 * @property {string} logFile
 * @property {string} clusterId
 * @property {number} controllerPort
 * @property {() => Promise<void>} stop  SIGTERM, up to 30 s, then SIGKILL; resolves when gone
 * @property {(signal?: NodeJS.Signals | number) => void} kill  sends a signal, no waiting
 * @property {() => Promise<boolean>} waitForExit  resolves (true) once the process is gone (max 30 s)
 * @property {(lines?: number) => string} logTail
 */

/**
 * Starts a combined broker+controller KRaft node on 127.0.0.1 and waits until it answers
 * a metadata request. Formats the storage only when the dataDir is not yet formatted, so a
 * restart on the same dataDir keeps the cluster id, topics and data.
 * @param {StartBrokerOptions} [opts]
 * @returns {Promise<BrokerHandle>}
 */
export async function startBroker(opts = {}) {
  const port = opts.port ?? Number(process.env.KAFKA_PORT ?? 9092);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad Kafka port: ${port}`);
  const dataDir = path.resolve(opts.dataDir ?? defaultDataDir(port));
  const heapMb = opts.heapMb ?? 512;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  const bootstrap = `127.0.0.1:${port}`;
  const logFile = path.join(dataDir, LOG_FILE);
  const propsFile = path.join(dataDir, PROPS_FILE);
  const logDir = path.join(dataDir, LOG_DIR);
  const pidFile = path.join(dataDir, PID_FILE);
  const stateFile = path.join(dataDir, STATE_FILE);

  await fsp.mkdir(logDir, { recursive: true });

  // A broker of this dataDir still around (e.g. just SIGKILLed, or really running)?
  const oldPid = readPid(dataDir);
  if (oldPid !== undefined && isOurBroker(oldPid, dataDir)) {
    if (!(await waitForExit(oldPid, 10_000))) {
      throw new Error(`a broker for ${dataDir} is already running (pid ${oldPid}); stop it first`);
    }
  }
  // (a broker killed a moment ago may hold the port for a few more ms)
  const portDeadline = Date.now() + 3000;
  while (!(await isPortFree(port)) && Date.now() < portDeadline) await sleep(100);
  if (!(await isPortFree(port))) {
    const up = await isBrokerUp(port);
    throw new Error(
      `port ${port} on 127.0.0.1 is already in use${up ? ' by a Kafka broker that answers metadata' : ''}`,
    );
  }

  const libDir = await ensureKafkaJars();
  const java = defaultJava();
  const classpath = `${libDir}${path.sep}*`;
  const log4jFile = path.join(dataDir, LOG4J_FILE);
  await fsp.writeFile(log4jFile, LOG4J2);

  // Keep the controller port across restarts when we can (the KRaft voter set records it).
  /** @type {{ controllerPort?: number, clusterId?: string }} */
  let state = {};
  try {
    state = JSON.parse(await fsp.readFile(stateFile, 'utf8'));
  } catch {
    /* first start */
  }
  let controllerPort = opts.controllerPort ?? state.controllerPort;
  if (opts.controllerPort === undefined && (!controllerPort || controllerPort === port || !(await isPortFree(controllerPort)))) {
    do controllerPort = await findFreePort();
    while (controllerPort === port);
  }

  const props = brokerProperties({
    port,
    controllerPort: /** @type {number} */ (controllerPort),
    logDir,
    nodeId: opts.nodeId ?? NODE_ID,
    listeners: opts.listeners ?? [],
    extraProperties: opts.extraProperties ?? {},
  });
  await fsp.writeFile(
    propsFile,
    `# Written by scripts/kafka-broker.mjs at ${new Date().toISOString()}\n${toProperties(props)}`,
  );

  const jvmBase = [
    `-Xmx${heapMb}m`,
    `-Xms${Math.min(heapMb, 128)}m`,
    '-XX:+UseSerialGC',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${log4jFile}`,
    `-Dkafka.logs.dir=${dataDir}`,
    ...(opts.jvmArgs ?? []),
  ];

  // Format only when not yet formatted (meta.properties in the metadata log dir).
  const metaDir = props['metadata.log.dir'] ?? (props['log.dirs'] ?? logDir).split(',')[0] ?? logDir;
  const metaFile = path.join(metaDir, 'meta.properties');
  let clusterId = readProperties(metaFile)['cluster.id'];
  if (!clusterId) {
    clusterId = opts.clusterId ?? newClusterId();
    const fmt = await runCommand(
      java,
      ['-Xmx256m', '-XX:+UseSerialGC', `-Dlog4j2.configurationFile=${log4jFile}`, '-cp', classpath,
        'kafka.tools.StorageTool', 'format', '--cluster-id', clusterId, '--config', propsFile,
        ...(props['controller.quorum.voters'] ? [] : ['--standalone']),
        ...(opts.scramCredentials ?? []).flatMap((c) => {
          if (/[,\]"]/.test(c.name + c.password)) throw new Error(`SCRAM user ${c.name}: name and password may not contain , ] or "`);
          return ['--add-scram', `${c.mechanism}=[name=${c.name},password=${c.password}]`];
        })],
      { timeoutMs: Math.max(30_000, deadline - Date.now()) },
    );
    if (fmt.code !== 0) {
      throw new Error(`kafka-storage format failed (exit ${fmt.code}) for ${propsFile}:\n${fmt.output.slice(-6000)}`);
    }
  }
  await fsp.writeFile(stateFile, JSON.stringify({ port, controllerPort, clusterId }, null, 2) + '\n');

  // Started == answers a metadata request, from this very cluster (not some other broker).
  const service = await startJavaService({
    name: `Kafka ${kafkaVersion()} broker on ${bootstrap} (controller 127.0.0.1:${controllerPort})`,
    java,
    args: [...jvmBase, '-cp', classpath, 'kafka.Kafka', propsFile],
    cwd: dataDir,
    logFile,
    pidFile,
    timeoutMs: Math.max(1000, deadline - Date.now()),
    async probe() {
      const info = await describeCluster(bootstrap, Math.max(500, Math.min(3000, deadline - Date.now())));
      if (info.clusterId !== clusterId) throw new Error(`a different cluster (${info.clusterId}, expected ${clusterId}) answers on ${bootstrap}`);
      return true;
    },
  });
  /** @type {BrokerHandle} */
  return { ...service, port, bootstrap, dataDir, clusterId, controllerPort };
}

/**
 * Stops a broker started earlier by startBroker (found by the pid file in its dataDir):
 * SIGTERM, wait up to 30 s, then SIGKILL. Resolves when the process is gone.
 * @param {{ port?: number, dataDir?: string, termTimeoutMs?: number }} [opts]
 * @returns {Promise<{ stopped: boolean, pid?: number }>} stopped=false when none was running
 */
export async function stopBroker(opts = {}) {
  const port = opts.port ?? Number(process.env.KAFKA_PORT ?? 9092);
  const dataDir = path.resolve(opts.dataDir ?? defaultDataDir(port));
  const pid = readPid(dataDir);
  const pidFile = path.join(dataDir, PID_FILE);
  if (pid === undefined) return { stopped: false };
  if (!isOurBroker(pid, dataDir)) {
    await fsp.rm(pidFile, { force: true });
    return { stopped: false, pid };
  }
  await terminate(pid, opts.termTimeoutMs ?? 30_000);
  await fsp.rm(pidFile, { force: true });
  return { stopped: true, pid };
}

/**
 * Status of the broker of a dataDir/port, for the CLI.
 * @param {{ port?: number, dataDir?: string }} [opts]
 */
export async function brokerStatus(opts = {}) {
  const port = opts.port ?? Number(process.env.KAFKA_PORT ?? 9092);
  const dataDir = path.resolve(opts.dataDir ?? defaultDataDir(port));
  const pid = readPid(dataDir);
  const running = pid !== undefined && isOurBroker(pid, dataDir);
  const up = await isBrokerUp(port);
  return {
    port,
    bootstrap: `127.0.0.1:${port}`,
    dataDir,
    logFile: path.join(dataDir, LOG_FILE),
    pid: running ? pid : undefined,
    running,
    answers: up,
  };
}

// ---------------------------------------------------------------------------
// Cluster (fault suite): several combined broker+controller nodes with a static quorum
// ---------------------------------------------------------------------------

/**
 * @typedef {object} StartClusterOptions
 * @property {number} [nodes]  default 3
 * @property {string} dataDir  each node keeps its data in <dataDir>/node-<id>
 * @property {number} [minInsyncReplicas]  default 2 (with replication factor = nodes)
 * @property {number} [heapMb]  per node, default 768 (a survivor holding produce requests for its lost followers needs it)
 * @property {(nodeId: number) => ExtraListener[]} [listeners]  extra client listeners per node
 * @property {Record<string, string>} [extraProperties]  merged into every node's properties
 * @property {number} [timeoutMs]  until every node answers metadata, default 180000
 */

/**
 * @typedef {object} ClusterHandle
 * @property {BrokerHandle[]} nodes  index i = node id i + 1; replaced by restart()
 * @property {string[]} bootstrap  every node's PLAINTEXT address
 * @property {string} clusterId
 * @property {(index: number) => Promise<BrokerHandle>} restart  starts node `index` again on its data (after a kill or stop)
 * @property {() => Promise<void>} stop  stops every node that still runs
 */

/**
 * Starts a KRaft cluster on 127.0.0.1: `nodes` combined broker+controller nodes with a static voter set, topics
 * replicated to every node (default.replication.factor = nodes) and min.insync.replicas 2, unclean leader
 * election off, so an acks=all write is acknowledged only once two replicas have it.
 * @param {StartClusterOptions} opts
 * @returns {Promise<ClusterHandle>}
 */
export async function startCluster(opts) {
  const count = opts.nodes ?? 3;
  const minInsync = opts.minInsyncReplicas ?? 2;
  /** @type {number[]} */
  const taken = [];
  const freshPort = async () => {
    let p;
    do p = await findFreePort();
    while (taken.includes(p));
    taken.push(p);
    return p;
  };
  const ports = [];
  const controllerPorts = [];
  for (let i = 0; i < count; i++) {
    ports.push(await freshPort());
    controllerPorts.push(await freshPort());
  }
  const clusterId = newClusterId();
  const voters = controllerPorts.map((c, i) => `${i + 1}@127.0.0.1:${c}`).join(',');
  const rf = String(count);
  const isr = String(Math.min(minInsync, count));
  /** @type {Record<string, string>} */
  const props = {
    'controller.quorum.voters': voters,
    'default.replication.factor': rf,
    'min.insync.replicas': isr,
    'offsets.topic.replication.factor': rf,
    'transaction.state.log.replication.factor': rf,
    'transaction.state.log.min.isr': isr,
    'share.coordinator.state.topic.replication.factor': rf,
    'share.coordinator.state.topic.min.isr': isr,
    'unclean.leader.election.enable': 'false',
    // A follower that stopped fetching leaves the ISR after this long (default 30 s): writes then fail fast with
    // NOT_ENOUGH_REPLICAS instead of waiting for it.
    'replica.lag.time.max.ms': '10000',
    ...opts.extraProperties,
  };
  /** @type {StartBrokerOptions[]} */
  const nodeOptions = ports.map((port, i) => ({
    port,
    dataDir: path.join(opts.dataDir, `node-${i + 1}`),
    nodeId: i + 1,
    controllerPort: controllerPorts[i],
    clusterId,
    heapMb: opts.heapMb ?? 768,
    timeoutMs: opts.timeoutMs ?? 180_000,
    listeners: opts.listeners?.(i + 1) ?? [],
    extraProperties: props,
  }));
  // All at once: no node answers metadata before a quorum of controllers is up.
  const started = await Promise.allSettled(nodeOptions.map((o) => startBroker(o)));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop().catch(() => {}) : undefined)));
    throw /** @type {PromiseRejectedResult} */ (failed).reason;
  }
  const nodes = started.map((r) => /** @type {PromiseFulfilledResult<BrokerHandle>} */ (r).value);
  return {
    nodes,
    bootstrap: ports.map((p) => `127.0.0.1:${p}`),
    clusterId,
    async restart(index) {
      const handle = await startBroker(/** @type {StartBrokerOptions} */ (nodeOptions[index]));
      nodes[index] = handle;
      return handle;
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
    },
  };
}
