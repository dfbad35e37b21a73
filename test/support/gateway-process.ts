import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { checkExposition, type Sample } from './prometheus.js';
import { waitFor } from './wait.js';

export const CLI = resolve(import.meta.dirname, '../../dist/cli.js');

/** The parts of a gateway config these helpers read. */
interface TestedConfig {
  inputs?: { type?: string; name?: string }[];
  http?: { enabled?: boolean; token?: { env?: string; file?: string; credential?: string } };
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface GatewayLaunch {
  /** The node binary, with any command that has to run it (an emulator) before it. */
  node: readonly string[];
  cli: string;
}

/** The gateway as users run it: `node dist/cli.js run --config FILE`, as a separate process. */
export class GatewayProcess {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #configFile: string;
  readonly #env: NodeJS.ProcessEnv;

  /**
   * `wrapper`: a command that execs the gateway (e.g. a shell that sets a signal disposition first).
   * `launch`: which node runs which installed CLI (e.g. an arm64 node under qemu-aarch64); default this checkout.
   */
  constructor(configFile: string, env: NodeJS.ProcessEnv = {}, wrapper: readonly string[] = [], launch: GatewayLaunch = { node: [process.execPath], cli: CLI }) {
    this.#configFile = configFile;
    this.#env = { ...process.env, ...env };
    const command = [...wrapper, ...launch.node, launch.cli, 'run', '--config', configFile];
    this.child = spawn(command[0] as string, command.slice(1), {
      env: { ...process.env, LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ level: 0, msg: line });
        }
      }
    });
    this.child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
    this.exited = new Promise((resolveExit) => this.child.once('exit', (code, signal) => resolveExit({ code, signal })));
  }

  hasLog(msg: string): boolean {
    return this.logs.some((l) => l.msg === msg);
  }

  async waitForLog(msg: string, timeoutMs = 30_000): Promise<LogLine> {
    return waitFor(`gateway log "${msg}"`, () => {
      if (this.child.exitCode !== null) throw new Error(`gateway exited (${this.child.exitCode}): ${this.stderr.join('')}`);
      return this.logs.find((l) => l.msg === msg);
    }, { timeoutMs });
  }

  /**
   * Started as an operator sees it: /readyz answers 200 (buffer writable, inputs started; Kafka may be down). A
   * config without an HTTP listener has only its log to tell, so then the `gateway started` record.
   */
  async started(timeoutMs = 60_000): Promise<void> {
    if (this.#config().http?.enabled === false) {
      await this.waitForLog('gateway started', timeoutMs);
      return;
    }
    const base = await this.httpUrl(timeoutMs);
    await waitFor('gateway ready (/readyz 200)', async () => {
      if (this.child.exitCode !== null) throw new Error(`gateway exited (${this.child.exitCode}): ${this.stderr.join('')}`);
      const readyz = await this.#get(`${base}/readyz`);
      if (readyz.status !== 200) throw new Error(`/readyz ${readyz.status}: ${await readyz.text()}`);
      return true;
    }, { timeoutMs, intervalMs: 100 });
  }

  /** The samples of /metrics right now (the exposition checked on the way). */
  async metrics(): Promise<Sample[]> {
    return checkExposition(await (await this.#get(`${await this.httpUrl()}/metrics`)).text());
  }

  /** GET with the config's http.token, if it has one (read as the gateway reads it: env, file or credential). */
  async #get(url: string): Promise<Response> {
    const token = this.#config().http?.token;
    let value: string | undefined;
    if (token?.env !== undefined) value = this.#env[token.env];
    else if (token?.file !== undefined) value = readFileSync(token.file, 'utf8');
    else if (token?.credential !== undefined) value = readFileSync(join(this.#env.CREDENTIALS_DIRECTORY ?? '', token.credential), 'utf8');
    return fetch(url, value === undefined ? {} : { headers: { Authorization: `Bearer ${value.trim()}` } });
  }

  #config(): TestedConfig {
    return parse(readFileSync(this.#configFile, 'utf8')) as TestedConfig;
  }

  /** Base URL of the HTTP listener; its port is the OS's choice (`http.port: 0`), named by its `status page: URL` record. */
  async httpUrl(timeoutMs = 60_000): Promise<string> {
    const listening = await waitFor('gateway log "status page: …"', () => {
      if (this.child.exitCode !== null) throw new Error(`gateway exited (${this.child.exitCode}): ${this.stderr.join('')}`);
      return this.logs.find((l) => l.msg.startsWith('status page: ') && typeof l.port === 'number');
    }, { timeoutMs });
    return `http://127.0.0.1:${String(listening.port)}`;
  }

  /**
   * Ready as an operator sees it: /readyz answers 200 (buffer writable, inputs started) and every MQTT input of
   * the config (as it is in the file now) reports `etg_mqtt_subscribed 1` on /metrics, i.e. its broker granted the
   * subscriptions, so what is published from now on reaches the gateway even on a brand-new session.
   */
  async ready(timeoutMs = 60_000): Promise<void> {
    const base = await this.httpUrl(timeoutMs);
    const mqttInputs = (this.#config().inputs ?? []).filter((i) => i.type === 'mqtt').map((i) => i.name ?? '');
    await waitFor(`gateway ready (/readyz 200, MQTT inputs ${mqttInputs.join(', ') || 'none'} subscribed)`, async () => {
      if (this.child.exitCode !== null) throw new Error(`gateway exited (${this.child.exitCode}): ${this.stderr.join('')}`);
      const readyz = await this.#get(`${base}/readyz`);
      if (readyz.status !== 200) throw new Error(`/readyz ${readyz.status}: ${await readyz.text()}`);
      const samples = checkExposition(await (await this.#get(`${base}/metrics`)).text());
      const pending = mqttInputs.filter((name) => !samples.some((m) => m.name === 'etg_mqtt_subscribed' && m.labels.input === name && m.value === 1));
      if (pending.length > 0) throw new Error(`not subscribed yet: ${pending.join(', ')}`);
      return true;
    }, { timeoutMs, intervalMs: 100 });
  }

  /** SIGTERM and wait for the exit; returns the exit code. */
  async stop(timeoutMs = 60_000): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const { code } = await this.exited;
    clearTimeout(timer);
    return code;
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

export interface TestConfigOptions {
  gatewayId: string;
  brokers: string[];
  mqttUrl: string;
  topicPrefix: string;
  /** kafka.client (default: the gateway's default). */
  client?: 'librdkafka' | 'kafkajs';
  bufferPath?: string;
  subscriptions?: unknown[];
  /** Merged into the kafka block (overrides replaces whole top-level blocks). */
  kafka?: Record<string, unknown>;
  overrides?: Record<string, unknown>;
}

/** The subscription the end-to-end tests publish to: `<base>/<device>` with temperature and humidity. */
export function sensorSubscription(baseTopic: string): Record<string, unknown> {
  return {
    topic: `${baseTopic}/+`,
    qos: 1,
    deviceId: `{${baseTopic.split('/').length}}`,
    timestamp: { field: 'time', format: 'unix-ms' },
    metrics: [
      { field: 'temperature', metric: 'temperature', unit: 'Cel' },
      { field: 'humidity', metric: 'humidity', unit: '%', scale: 0.1 },
    ],
  };
}

/** Writes a gateway config into a fresh temp folder; returns the file path and folder. */
export function writeTestConfig(options: TestConfigOptions): { file: string; dir: string; bufferPath: string } {
  const dir = mkdtempSync(join(tmpdir(), 'etg-gw-'));
  const bufferPath = options.bufferPath ?? join(dir, 'buffer.db');
  const config = {
    gateway: { id: options.gatewayId },
    logging: { level: 'info' },
    buffer: { path: bufferPath },
    kafka: {
      ...(options.client ? { client: options.client } : {}),
      brokers: options.brokers,
      topics: { prefix: options.topicPrefix },
      retry: { initial: '200ms', max: '2s' },
      connectionTimeout: '2s',
      requestTimeout: '10s',
      ...options.kafka,
    },
    shutdown: { drainTimeout: '10s' },
    // Several gateways run at once in the suite: each gets a free port for its HTTP listener.
    http: { port: 0 },
    inputs: [
      {
        type: 'mqtt',
        name: 'site',
        url: options.mqttUrl,
        clientId: `${options.gatewayId}-site`,
        reconnect: { initial: '200ms', max: '2s' },
        subscriptions: options.subscriptions ?? [sensorSubscription(`${options.gatewayId}/sensors`)],
      },
    ],
    ...options.overrides,
  };
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify(config));
  return { file, dir, bufferPath };
}
