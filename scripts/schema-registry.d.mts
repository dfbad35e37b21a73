// Types of scripts/schema-registry.mjs (plain JS, no build step), for TypeScript under strict mode.
import type { JavaServiceHandle } from './java-service.mjs';

export interface StartRegistryOptions {
  /** HTTP port on 127.0.0.1; default $REGISTRY_PORT or 8081. */
  port?: number;
  /** Where registry.log and registry.pid go; default .cache/schema-registry/run-<port>. */
  dataDir?: string;
  /** JVM -Xmx in MiB, default 384. */
  heapMb?: number;
  /** How long to wait until the API answers, default 180000. */
  timeoutMs?: number;
}

export interface RegistryHandle extends JavaServiceHandle {
  port: number;
  managementPort: number;
  /** The Confluent-compatible API: http://127.0.0.1:<port>/apis/ccompat/v7 */
  url: string;
  dataDir: string;
}

export const registryPom: string;
export const CCOMPAT_PATH: string;
export function registryVersion(): string;
export function ensureRegistryApp(): Promise<string>;
export function registryAnswers(baseUrl: string): Promise<boolean>;
export function startSchemaRegistry(opts?: StartRegistryOptions): Promise<RegistryHandle>;
