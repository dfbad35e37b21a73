// A private Mosquitto broker for tests, the demo and benchmarks: the real /usr/sbin/mosquitto with our own config.
// Profiles: `test` (default: unbounded per-client queue so an offline persistent session keeps every QoS 1
// message), `stock` (Debian's defaults: the broker a new user has, which drops beyond 1,000 queued messages per
// client) and `shipped` (config/mosquitto/edge-telemetry-gateway.conf, what install.sh --with-mosquitto installs).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join, resolve } from 'node:path';

/** The Mosquitto drop-in the project ships. */
export const SHIPPED_MOSQUITTO_CONF = resolve(import.meta.dirname, '../config/mosquitto/edge-telemetry-gateway.conf');

/** @returns {Promise<number>} a free TCP port on 127.0.0.1 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** @returns {Promise<boolean>} whether something accepts TCP connections on host:port */
export function isPortOpen(port, host = '127.0.0.1', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (open) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The broker binary: $MOSQUITTO_BIN (e.g. a newer build to compare against), else the system one. */
export function mosquittoBinary() {
  const chosen = process.env.MOSQUITTO_BIN;
  if (chosen) {
    if (!existsSync(chosen)) throw new Error(`MOSQUITTO_BIN=${chosen} does not exist`);
    return chosen;
  }
  for (const candidate of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto']) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('mosquitto is not installed (apt-get install mosquitto)');
}

/** The settings lines of a Mosquitto config file (comments and blank lines dropped). */
export function mosquittoConfigLines(file) {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

const PROFILES = {
  test: () => ['max_queued_messages 0', 'max_queued_bytes 0', 'max_inflight_messages 0', 'persistent_client_expiration 1d'],
  // Debian's /etc/mosquitto/mosquitto.conf sets persistence and paths only: every limit is Mosquitto's default.
  stock: () => [],
  shipped: () => mosquittoConfigLines(SHIPPED_MOSQUITTO_CONF),
};

/**
 * Starts mosquitto in the foreground of a child process.
 * @param {{ port?: number, dataDir: string, persistence?: boolean, profile?: 'test' | 'stock' | 'shipped', extraConfig?: string[] }} options
 */
export async function startMosquitto(options) {
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir;
  mkdirSync(dataDir, { recursive: true });
  const configFile = join(dataDir, 'mosquitto.conf');
  const logFile = join(dataDir, 'mosquitto.log');
  const profile = PROFILES[options.profile ?? 'test'];
  if (!profile) throw new Error(`unknown Mosquitto profile ${options.profile}: test, stock or shipped`);
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    `persistence ${options.persistence ? 'true' : 'false'}`,
    `persistence_location ${dataDir}/`,
    'autosave_interval 1',
    // After ours: a profile's own persistence and autosave settings win.
    ...profile(),
    `log_dest file ${logFile}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
    // Started as root, mosquitto drops to the `mosquitto` user and then cannot write its persistence file or log
    // into our (root-owned) folder: sessions would silently not survive a restart. Test brokers stay root.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    ...(options.extraConfig ?? []),
  ];
  writeFileSync(configFile, `${lines.join('\n')}\n`);
  const child = spawn(mosquittoBinary(), ['-c', configFile], { stdio: 'ignore', detached: false });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 15_000;
  while (!(await isPortOpen(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`mosquitto did not start on port ${port}:\n${tail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid,
    logFile,
    /** Stops the broker (SIGTERM: it saves its persistence file first) and waits for the exit. */
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    logTail: () => tail(logFile),
  };
}

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
