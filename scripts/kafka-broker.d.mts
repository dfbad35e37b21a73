// Types of scripts/kafka-broker.mjs (plain JS, no build step), for TypeScript under strict mode.

export type SecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';

/** An additional client listener (e.g. for TLS or SASL), added next to PLAINTEXT and CONTROLLER. */
export interface ExtraListener {
  /** Listener name, e.g. 'SSL' or 'EXTERNAL' (PLAINTEXT and CONTROLLER are reserved). */
  name: string;
  port: number;
  /** Defaults to `name` when that is a security protocol. */
  protocol?: SecurityProtocol;
  /** Bind host, default 127.0.0.1. */
  host?: string;
  /** Advertised host, default = host. */
  advertisedHost?: string;
  /** Advertised port, default = port (e.g. a fault proxy's port, so clients come back through it). */
  advertisedPort?: number;
}

export interface StartBrokerOptions {
  /** PLAINTEXT port on 127.0.0.1; default $KAFKA_PORT or 9092. */
  port?: number;
  /** Default .cache/kafka/run-<port>; an already formatted dir is reused as is (restart). */
  dataDir?: string;
  /** Merged last into server.properties; may override listeners, advertised.listeners, listener.security.protocol.map, ... */
  extraProperties?: Record<string, string>;
  /** Extra client listeners (SSL, SASL_SSL, ...). */
  listeners?: ExtraListener[];
  /** JVM -Xmx in MiB, default 512. */
  heapMb?: number;
  /** How long to wait until the broker answers metadata, default 120000. */
  timeoutMs?: number;
  /** Extra JVM flags. */
  jvmArgs?: string[];
  /** SCRAM users created when the storage is formatted (first start of a dataDir only). */
  scramCredentials?: ScramCredential[];
  /** KRaft node id, default 1. */
  nodeId?: number;
  /** CONTROLLER port; default: kept from the last start of this dataDir, else a free one. */
  controllerPort?: number;
  /** Cluster id used when formatting (the nodes of a cluster share one); default random. */
  clusterId?: string;
}

export interface StartClusterOptions {
  /** Default 3. */
  nodes?: number;
  /** Each node keeps its data in <dataDir>/node-<id>. */
  dataDir: string;
  /** Default 2 (replication factor = nodes). */
  minInsyncReplicas?: number;
  /** Per node, default 768. */
  heapMb?: number;
  listeners?: (nodeId: number) => ExtraListener[];
  extraProperties?: Record<string, string>;
  timeoutMs?: number;
}

export interface ClusterHandle {
  /** Index i = node id i + 1; replaced by restart(). */
  nodes: BrokerHandle[];
  bootstrap: string[];
  clusterId: string;
  restart(index: number): Promise<BrokerHandle>;
  stop(): Promise<void>;
}

export function startCluster(opts: StartClusterOptions): Promise<ClusterHandle>;

export interface ScramCredential {
  mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  name: string;
  /** No ',', ']' or '"' (StorageTool's --add-scram syntax has no escaping). */
  password: string;
}

export interface BrokerHandle {
  port: number;
  /** '127.0.0.1:<port>' */
  bootstrap: string;
  pid: number;
  dataDir: string;
  logFile: string;
  clusterId: string;
  controllerPort: number;
  /** SIGTERM, wait up to 30 s, then SIGKILL; resolves when the process is gone. */
  stop(): Promise<void>;
  /** Sends a signal (default SIGTERM) without waiting. */
  kill(signal?: NodeJS.Signals | number): void;
  /** Resolves true once the process is gone (false after 30 s). */
  waitForExit(): Promise<boolean>;
  /** The last `lines` (default 60) lines of the broker log. */
  logTail(lines?: number): string;
}

export interface BrokerStatus {
  port: number;
  bootstrap: string;
  dataDir: string;
  logFile: string;
  pid: number | undefined;
  /** A broker process of this dataDir is alive. */
  running: boolean;
  /** Something answers a Kafka metadata request on the port. */
  answers: boolean;
}

export const repoRoot: string;
export const kafkaPom: string;
export function kafkaVersion(): string;
export function defaultDataDir(port: number): string;
export function ensureKafkaJars(): Promise<string>;
/** Whether ensureKafkaJars() will find the jars cached (no Maven fetch). */
export function kafkaJarsCached(): boolean;
export function findFreePort(host?: string): Promise<number>;
export function isPortFree(port: number, host?: string): Promise<boolean>;
export function describeCluster(
  bootstrap: string,
  timeoutMs?: number,
): Promise<{ clusterId: string; controller: number | null; brokers: { nodeId: number; host: string; port: number }[] }>;
export function isBrokerUp(port: number, host?: string): Promise<boolean>;
export function startBroker(opts?: StartBrokerOptions): Promise<BrokerHandle>;
export function stopBroker(opts?: {
  port?: number;
  dataDir?: string;
  termTimeoutMs?: number;
}): Promise<{ stopped: boolean; pid?: number }>;
export function brokerStatus(opts?: { port?: number; dataDir?: string }): Promise<BrokerStatus>;
