/**
 * Device drivers are data: a YAML file in devices/ describes one device model (a Modbus register map, a serial
 * framing and field parsing, an MQTT payload mapping). A device in the gateway config references a driver by
 * name (`xy-md02` → devices/xy-md02.yaml) or by path. This module finds, parses and validates driver files; each
 * input family supplies the zod schema of its drivers. Errors name the file, the path inside it and the reason.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { GatewayError } from '../errors.js';
import { issueProblems, PARSE_OPTIONS } from '../config/messages.js';
import { didYouMean, formatProblem, type ConfigProblem } from '../config/problems.js';
import { parseYamlSource } from '../config/yaml-source.js';

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

function isPathRef(ref: string): boolean {
  return ref.includes('/') || ref.endsWith('.yaml') || ref.endsWith('.yml');
}

/** Resolves a driver reference (a name such as `xy-md02`, or a path to a .yaml file) to a file path. */
export function findDriverFile(ref: string, searchPaths: readonly string[], configDir: string): string | undefined {
  if (isPathRef(ref)) {
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

/** The `kind:` a driver file declares, read from its text (without validating the rest). */
function driverKind(file: string): string | undefined {
  try {
    return /^kind:\s*["']?([\w-]+)/m.exec(readFileSync(file, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** Driver names found in the search paths, of one `kind` when given (read from each file's `kind:` line). */
export function availableDrivers(searchPaths: readonly string[], kind?: string): string[] {
  const names = new Set<string>();
  for (const dir of searchPaths) {
    let files: string[];
    try {
      files = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of files) {
      const match = /^(.+)\.ya?ml$/.exec(name);
      if (!match?.[1]) continue;
      if (kind !== undefined) {
        if (driverKind(join(dir, name)) !== kind) continue;
      }
      names.add(match[1]);
    }
  }
  return [...names].sort();
}

/** The problem of a driver reference that names no file: a suggestion for a typo, else what there is. */
export function driverNotFound(ref: string, searchPaths: readonly string[], configDir: string, kind?: string): ConfigProblem {
  if (isPathRef(ref)) {
    const file = isAbsolute(ref) ? ref : resolve(configDir, ref);
    return { code: 'GW_DRIVER_NOT_FOUND', path: [], message: `driver file ${ref} not found (${file} does not exist)` };
  }
  const available = availableDrivers(searchPaths, kind);
  const hint = didYouMean(ref, available);
  const choice = hint !== '' ? hint : available.length > 0 ? `; available${kind === undefined ? '' : ` ${kind} drivers`}: ${available.join(', ')}` : '';
  return {
    code: 'GW_DRIVER_NOT_FOUND',
    path: [],
    message: `driver "${ref}" not found${choice}; looked in ${searchPaths.join(', ')} (name a file there without .yaml, or give a path)`,
  };
}

export interface LoadedDriver<T> {
  file: string;
  driver: T;
}

export type DriverRead<T> = ({ ok: true } & LoadedDriver<T>) | { ok: false; problems: ConfigProblem[] };

/**
 * Finds, parses and validates a driver file with its family's schema (`kind` names the family, for suggestions).
 * Problems have an empty path (the caller puts the path of its `driver` key); problems inside the driver file
 * carry that file, the path in it and its line and column.
 */
export function readDriverFile<S extends z.ZodType>(
  ref: string,
  schema: S,
  searchPaths: readonly string[],
  configDir: string,
  kind?: string,
): DriverRead<z.output<S>> {
  const file = findDriverFile(ref, searchPaths, configDir);
  if (file === undefined) return { ok: false, problems: [driverNotFound(ref, searchPaths, configDir, kind)] };
  const invalid = (path: readonly PropertyKey[], message: string, position?: ConfigProblem['position'], excerpt?: string[]): ConfigProblem => ({
    code: 'GW_DRIVER_INVALID',
    path: [],
    message,
    source: { file, path, ...(position === undefined ? {} : { position }) },
    ...(excerpt === undefined ? {} : { excerpt }),
  });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, problems: [invalid([], `cannot be read (${(err as Error).message})`)] };
  }
  const source = parseYamlSource(text);
  if (source.syntaxErrors.length > 0) {
    return { ok: false, problems: source.syntaxErrors.map((e) => invalid([], `not valid YAML: ${e.message}`, e.position, e.excerpt)) };
  }
  if (source.empty) return { ok: false, problems: [invalid([], 'the driver file is empty')] };
  // A driver of another family is a wrong reference in the config, not a broken driver file.
  const declared = typeof source.value === 'object' && source.value !== null ? (source.value as { kind?: unknown }).kind : undefined;
  if (kind !== undefined && typeof declared === 'string' && declared !== kind) {
    const others = availableDrivers(searchPaths, kind);
    return {
      ok: false,
      problems: [
        {
          code: 'GW_CONFIG_INVALID',
          path: [],
          message: `driver "${ref}" has kind: ${declared} (${file}); this input needs kind: ${kind}${others.length > 0 ? ` (drivers of that kind: ${others.join(', ')})` : ''}`,
        },
      ],
    };
  }
  const result = schema.safeParse(source.value, PARSE_OPTIONS);
  if (!result.success) {
    const problems = issueProblems(result.error.issues, 'GW_DRIVER_INVALID', source.positionOf);
    return { ok: false, problems: problems.map((p) => invalid(p.path, p.message, p.position)) };
  }
  return { ok: true, file, driver: result.data as z.output<S> };
}

/**
 * Loads and validates a driver file with its family's schema, for code that needs the driver now (inputs at
 * start, simulators). Throws GW_DRIVER_NOT_FOUND, or GW_DRIVER_INVALID with one `file:line:column: path: reason`
 * detail per problem.
 */
export function loadDriverFile<S extends z.ZodType>(
  ref: string,
  schema: S,
  searchPaths: readonly string[],
  configDir: string,
): LoadedDriver<z.output<S>> {
  const read = readDriverFile(ref, schema, searchPaths, configDir);
  if (read.ok) return { file: read.file, driver: read.driver };
  const [first] = read.problems;
  if (first?.code === 'GW_DRIVER_NOT_FOUND') throw new GatewayError('GW_DRIVER_NOT_FOUND', first.message);
  const file = first?.source?.file ?? ref;
  throw new GatewayError('GW_DRIVER_INVALID', `driver file ${file} is invalid (${read.problems.length} problem${read.problems.length === 1 ? '' : 's'})`, {
    details: read.problems.map((p) => formatProblem(p, undefined, 'GW_DRIVER_INVALID')),
  });
}
