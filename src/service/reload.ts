/**
 * What a configuration reload (SIGHUP, `systemctl reload`) changes, decided from the running and the new config.
 * Pure functions; Gateway.reload() applies the plan.
 *
 * - Inputs are matched by name. An input whose config is deep-equal and whose driver files have the same content
 *   keeps running untouched; a changed one is stopped and started again; removed ones are stopped; added ones
 *   started. So editing a driver file in /etc/edge-telemetry-gateway/devices and reloading restarts exactly the
 *   inputs that use it.
 * - logging.level and drivers.paths apply at once (drivers.paths through the input fingerprints).
 * - Everything else (gateway id, buffer, kafka, shutdown) belongs to components that hold events and keep running
 *   through a reload; a change there is reported as needing a restart and is not applied.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from '../config/schema.js';
import { findDriverFile } from '../drivers/driver-files.js';
import type { InputContext } from '../inputs/input.js';
import type { InputConfigAny } from '../inputs/registry.js';
import { Secret } from '../util/secret.js';

/** Top-level config sections a reload applies; every other section needs a restart. */
export const RELOADABLE_SECTIONS: readonly string[] = ['inputs', 'logging', 'drivers'];

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A JSON-able canonical form: sorted keys, secrets as origin + hash of the value (a rotated secret is a change). */
function canonical(value: unknown): unknown {
  if (value instanceof Secret) {
    let digest: string;
    try {
      digest = sha256(value.reveal());
    } catch (err) {
      digest = `unavailable: ${(err as Error).message}`;
    }
    return { secret: value.origin, sha256: digest };
  }
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** Every `driver:` reference in an input config (inputs reference driver files by that key). */
export function driverRefs(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(driverRefs);
  if (value === null || typeof value !== 'object' || value instanceof Secret) return [];
  return Object.entries(value).flatMap(([key, v]) => (key === 'driver' && typeof v === 'string' ? [v] : driverRefs(v)));
}

/**
 * Identity of an input for reload: its config in canonical form plus the file and content hash of every driver it
 * references, resolved with the given context (so a changed drivers.paths or an edited driver file is a change).
 */
export function inputFingerprint(config: InputConfigAny, context: InputContext): string {
  const drivers = [...new Set(driverRefs(config))].sort().map((ref) => {
    const file = findDriverFile(ref, context.driverSearchPaths, context.configDir);
    if (file === undefined) return { ref, file: null };
    let digest: string;
    try {
      digest = sha256(readFileSync(file, 'utf8'));
    } catch (err) {
      digest = `unreadable: ${(err as NodeJS.ErrnoException).code ?? 'error'}`;
    }
    return { ref, file, sha256: digest };
  });
  return JSON.stringify({ config: canonical(config), drivers });
}

export interface InputReloadPlan {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
  /** The new inputs in config order, with what to do with each. */
  next: { name: string; config: InputConfigAny; fingerprint: string; action: 'keep' | 'start' }[];
}

/** Compares the running inputs (name → fingerprint) with the new config's inputs. */
export function planInputReload(
  running: ReadonlyMap<string, string>,
  inputs: readonly InputConfigAny[],
  context: InputContext,
): InputReloadPlan {
  const plan: InputReloadPlan = { added: [], removed: [], changed: [], unchanged: [], next: [] };
  const names = new Set<string>();
  for (const config of inputs) {
    names.add(config.name);
    const fingerprint = inputFingerprint(config, context);
    const before = running.get(config.name);
    if (before === undefined) plan.added.push(config.name);
    else if (before !== fingerprint) plan.changed.push(config.name);
    else plan.unchanged.push(config.name);
    plan.next.push({ name: config.name, config, fingerprint, action: before === fingerprint ? 'keep' : 'start' });
  }
  for (const name of running.keys()) if (!names.has(name)) plan.removed.push(name);
  return plan;
}

/**
 * Config paths that differ between the running and the new config outside the reloadable sections, e.g.
 * `kafka.brokers`, `buffer.path`, `gateway.id`. Arrays compare as a whole.
 */
export function restartRequiredPaths(running: GatewayConfig, next: GatewayConfig): string[] {
  const paths: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    const isObject = (v: unknown): v is Record<string, unknown> =>
      v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Secret);
    if (isObject(a) && isObject(b)) {
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
        walk(a[key], b[key], path === '' ? key : `${path}.${key}`);
      }
      return;
    }
    if (JSON.stringify(canonical(a)) !== JSON.stringify(canonical(b))) paths.push(path);
  };
  const strip = (config: GatewayConfig): Record<string, unknown> =>
    Object.fromEntries(Object.entries(config).filter(([key]) => !RELOADABLE_SECTIONS.includes(key)));
  walk(strip(running), strip(next), '');
  return paths;
}

/** What a reload did; `failed` inputs are not running (they are tried again on the next reload). */
export interface ReloadResult {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
  /** Config paths that changed but need a restart (not applied). */
  restartRequired: string[];
  failed: { input: string; code: string | undefined; error: string }[];
}

/** The stable code of a GatewayError (or any error carrying a string `code`), for logs. */
export function errorCode(err: unknown): string | undefined {
  const code = err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
