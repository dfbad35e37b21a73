// Types of scripts/kafka-connect.mjs (plain JS, no build step), for TypeScript under strict mode.
import type { JavaServiceHandle } from './java-service.mjs';

export interface StartConnectOptions {
  /** Kafka bootstrap, host:port. */
  bootstrap: string;
  /** REST port on 127.0.0.1; default $CONNECT_PORT or 8083. */
  port?: number;
  /** Default .cache/kafka-connect/run-<port>. */
  dataDir?: string;
  /** JVM -Xmx in MiB, default 512. */
  heapMb?: number;
  /** How long to wait until the REST API answers, default 180000. */
  timeoutMs?: number;
}

export interface ConnectWorkerHandle extends JavaServiceHandle {
  port: number;
  /** http://127.0.0.1:<port> */
  restUrl: string;
  dataDir: string;
}

export interface ConnectorStatus {
  connector: { state: string };
  tasks: { id: number; state: string; trace?: string }[];
}

export const connectPom: string;
export function connectVersions(): { connect: string; debezium: string };
export function ensureConnectWorker(): Promise<{ libDir: string; pluginDir: string }>;
export function workerAnswers(restUrl: string): Promise<boolean>;
export function startConnectWorker(opts: StartConnectOptions): Promise<ConnectWorkerHandle>;
export function putConnector(restUrl: string, name: string, config: Record<string, string>): Promise<unknown>;
export function connectorStatus(restUrl: string, name: string): Promise<ConnectorStatus>;
