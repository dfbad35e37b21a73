import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { waitFor } from './wait.js';

export const CLI = resolve(import.meta.dirname, '../../dist/cli.js');

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

  /**
   * `wrapper`: a command that execs the gateway (e.g. a shell that sets a signal disposition first).
   * `launch`: which node runs which installed CLI (e.g. an arm64 node under qemu-aarch64); default this checkout.
   */
  constructor(configFile: string, env: NodeJS.ProcessEnv = {}, wrapper: readonly string[] = [], launch: GatewayLaunch = { node: [process.execPath], cli: CLI }) {
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

  async started(timeoutMs = 30_000): Promise<void> {
    await this.waitForLog('gateway started', timeoutMs);
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
