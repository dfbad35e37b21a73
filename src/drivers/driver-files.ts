/**
 * Device drivers are data: a YAML file in devices/ describes one device model (a Modbus register map, a serial
 * framing and field parsing, an MQTT payload mapping). A device in the gateway config references a driver by
 * name (`xy-md02` → devices/xy-md02.yaml) or by path. This module finds, parses and validates driver files; each
 * input family supplies the zod schema of its drivers. Errors name the file, the path inside it and the reason.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { GatewayError } from '../errors.js';
import { formatPath } from '../config/format-path.js';

/** The devices/ folder shipped with the package. */
export const SHIPPED_DRIVERS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../devices');

/**
 * Where driver names are looked up, first match wins: the configured paths (relative to the config file),
 * then `devices/` next to the config file, then the drivers shipped with the gateway.
 */
export function driverSearchPaths(configDir: string, configured: readonly string[] = []): string[] {
  const paths = [...configured.map((p) => (isAbsolute(p) ? p : resolve(configDir, p))), join(configDir, 'devices'), SHIPPED_DRIVERS_DIR];
  return [...new Set(paths)];
}

/** Resolves a driver reference (a name such as `xy-md02`, or a path to a .yaml file) to a file path. */
export function findDriverFile(ref: string, searchPaths: readonly string[], configDir: string): string | undefined {
  if (ref.includes('/') || ref.endsWith('.yaml') || ref.endsWith('.yml')) {
    const file = isAbsolute(ref) ? ref : resolve(configDir, ref);
    return existsSync(file) ? file : undefined;
  }
  for (const dir of searchPaths) {
    for (const ext of ['.yaml', '.yml']) {
      const file = join(dir, `${ref}${ext}`);
      if (existsSync(file)) return file;
    }
  }
  return undefined;
}

export interface LoadedDriver<T> {
  file: string;
  driver: T;
}

/**
 * Loads and validates a driver file with its family's schema.
 * Throws GW_DRIVER_INVALID (details: `file: path: reason`) or GW_DRIVER_NOT_FOUND.
 */
export function loadDriverFile<S extends z.ZodType>(
  ref: string,
  schema: S,
  searchPaths: readonly string[],
  configDir: string,
): LoadedDriver<z.output<S>> {
  const file = findDriverFile(ref, searchPaths, configDir);
  if (file === undefined) {
    throw new GatewayError('GW_DRIVER_NOT_FOUND', `driver "${ref}" not found`, {
      details: [`looked in: ${searchPaths.join(', ')}`, 'name a file in one of these folders (without .yaml) or give a path'],
    });
  }
  const doc = parseDocument(readFileSync(file, 'utf8'), { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new GatewayError('GW_DRIVER_INVALID', `driver file ${file} is not valid YAML`, {
      details: doc.errors.map((e) => `${file}: ${e.message.split('\n')[0] ?? e.message}`),
    });
  }
  const result = schema.safeParse(doc.toJS());
  if (!result.success) {
    throw new GatewayError('GW_DRIVER_INVALID', `driver file ${file} is invalid`, {
      details: result.error.issues.map((issue) => `${file}: ${formatPath(issue.path)}: ${issue.message}`),
    });
  }
  return { file, driver: result.data as z.output<S> };
}
