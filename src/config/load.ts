/**
 * Loading a gateway config, for `run`, `check-config`, reloads and the operator commands: one pass that reports
 * every problem at once — YAML syntax, schema, driver files, secrets — each counted once and located at
 * `file:line:column` (src/config/problems.ts). Checks beyond the schema run on the valid part of a config that
 * has schema problems (src/config/salvage.ts), so fixing one typo never uncovers a second round of problems.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { GatewayError } from '../errors.js';
import { Secret } from '../util/secret.js';
import { driverSearchPaths } from '../drivers/driver-files.js';
import type { InputContext } from '../inputs/input.js';
import { familyOf } from '../inputs/registry.js';
import { formatPath } from './format-path.js';
import type { z } from 'zod';
import { issueProblems, objectShape, PARSE_OPTIONS, type PositionOf } from './messages.js';
import { problemsError, type ConfigProblem } from './problems.js';
import { isUnder, salvage, type Salvaged } from './salvage.js';
import { GatewayConfigSchema, type GatewayConfig } from './schema.js';
import { excerptAt, parseYamlSource } from './yaml-source.js';

export { formatPath } from './format-path.js';

export interface LoadedConfig {
  config: GatewayConfig;
  /** Absolute path of the file it came from; relative paths in it resolve against its folder. */
  file: string;
  /** Where inputs find driver files. */
  context: InputContext;
}

/** Where the config came from, so problems can be located in it. */
export interface ConfigSource {
  file: string;
  positionOf: PositionOf;
}

type Section = keyof GatewayConfig;

/** A salvaged piece of the config and where it sits (a section, or a key of a section that failed as a whole). */
interface Piece {
  at: PropertyKey[];
  part: Salvaged<unknown>;
}

/**
 * The parts of a config the checks beyond the schema can run on: the inputs (typed, for the families' checks),
 * the driver paths, and every piece that can hold a secret. A section that cannot be salvaged as a whole (a
 * required key in it is wrong) is salvaged key by key.
 */
interface Checkable {
  inputs?: Salvaged<GatewayConfig['inputs']>;
  driverPaths?: string[];
  pieces: Piece[];
}

function salvagePieces(schema: z.ZodType, raw: unknown, at: PropertyKey[]): Piece[] {
  const whole = salvage(schema, raw);
  if (whole !== undefined) return [{ at, part: whole }];
  const shape = objectShape(schema);
  if (shape === undefined || typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [];
  return Object.entries(shape).flatMap(([key, inner]) => salvagePieces(inner as z.ZodType, (raw as Record<string, unknown>)[key], [...at, key]));
}

function checkableParts(raw: unknown, parsed: GatewayConfig | undefined): Checkable {
  if (parsed !== undefined) {
    const pieces = (Object.keys(parsed) as Section[]).map((key) => ({ at: [key], part: identity<unknown>(parsed[key]) }));
    return { inputs: identity(parsed.inputs), driverPaths: parsed.drivers.paths, pieces };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { pieces: [] };
  const record = raw as Record<string, unknown>;
  const { shape } = GatewayConfigSchema;
  const inputs = salvage(shape.inputs, record.inputs);
  const drivers = salvage(shape.drivers, record.drivers);
  const pieces = (Object.keys(shape) as Section[]).flatMap((key) =>
    key === 'inputs' ? (inputs === undefined ? [] : [{ at: [key], part: inputs as Salvaged<unknown> }]) : salvagePieces(shape[key], record[key], [key]),
  );
  return { ...(inputs === undefined ? {} : { inputs }), ...(drivers === undefined ? {} : { driverPaths: drivers.value.paths }), pieces };
}

function identity<T>(value: T): Salvaged<T> {
  return { value, dropped: [], removed: [], toOriginal: (p) => [...p] };
}

function secretProblems(value: unknown, path: PropertyKey[] = []): ConfigProblem[] {
  if (value instanceof Secret) {
    try {
      value.reveal();
      return [];
    } catch (err) {
      return [{ code: 'GW_SECRET_MISSING', path, message: `${(err as Error).message} (secret ${value.origin})` }];
    }
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => secretProblems(v, [...path, i]));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => secretProblems(v, [...path, k]));
  return [];
}

/** Paths of what the checks beyond the schema look at in a raw config: driver references and secret references. */
function checkablePaths(value: unknown, path: PropertyKey[] = []): PropertyKey[][] {
  if (Array.isArray(value)) return value.flatMap((v: unknown, i) => checkablePaths(v, [...path, i]));
  if (value === null || typeof value !== 'object') return [];
  const entries = Object.entries(value);
  if (entries.length === 1 && ['env', 'file', 'credential'].includes(entries[0]?.[0] ?? '')) return [path];
  return entries.flatMap(([k, v]) => (k === 'driver' && typeof v === 'string' ? [[...path, k]] : checkablePaths(v, [...path, k])));
}

/** The checks beyond the schema (input families' driver checks, secrets) on the checkable parts. */
function deepProblems(parts: Checkable, raw: unknown, configDir: string): { problems: ConfigProblem[]; unchecked: PropertyKey[][] } {
  const problems: ConfigProblem[] = [];
  const place = ({ at, part }: Piece, found: readonly ConfigProblem[]): void => {
    for (const problem of found) {
      const path = [...at, ...part.toOriginal(problem.path)];
      // A finding about a value the salvage dropped is about its default, not about the file.
      if (part.dropped.some((d) => isUnder(path, [...at, ...d]))) continue;
      problems.push({ ...problem, path });
    }
  };
  const context: InputContext = { configDir, driverSearchPaths: driverSearchPaths(configDir, parts.driverPaths) };
  const { inputs } = parts;
  if (inputs !== undefined) {
    const piece = { at: ['inputs'], part: inputs };
    inputs.value.forEach((input, i) => place(piece, (familyOf(input).check?.(input, context) ?? []).map((p) => ({ ...p, path: [i, ...p.path] }))));
  }
  for (const piece of parts.pieces) place(piece, secretProblems(piece.part.value));
  // Driver and secret references that could not be checked (they sit in a part that failed): said, not counted.
  const unchecked = checkablePaths(raw).filter(
    (path) => !parts.pieces.some(({ at, part }) => isUnder(path, at) && !part.removed.some((r) => isUnder(path, [...at, ...r]))),
  );
  return { problems, unchecked };
}

/**
 * Validates an already-parsed config object, including the driver files and secrets it references; throws one
 * GatewayError, GW_CONFIG_INVALID, listing every problem (a driver or secret problem names its own code on its line).
 */
export function validateConfig(raw: unknown, origin: string, configDir = process.cwd(), source?: ConfigSource): GatewayConfig {
  const value = raw ?? {};
  const result = GatewayConfigSchema.safeParse(value, PARSE_OPTIONS);
  const schemaProblems = result.success ? [] : issueProblems(result.error.issues, 'GW_CONFIG_INVALID', source?.positionOf);
  const { problems: found, unchecked } = deepProblems(checkableParts(value, result.success ? result.data : undefined), value, configDir);
  const problems = [...schemaProblems, ...found].map((p) =>
    p.position !== undefined || source === undefined ? p : { ...p, position: source.positionOf(p.path) },
  );
  if (problems.length > 0 || !result.success) {
    // A reference with a problem of its own is fixed anyway; the note names only the others.
    const unnoted = unchecked.filter((path) => !schemaProblems.some((p) => isUnder(p.path, path) || isUnder(path, p.path)));
    const notes = unnoted.length > 0 ? [`not checked yet (fix the problems above first): ${unnoted.map(formatPath).join(', ')}`] : [];
    throw problemsError(origin, source?.file, mergeRepeats(problems), notes);
  }
  return result.data;
}

/** The same problem of one driver file, found through several devices, is one problem naming every user. */
function mergeRepeats(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const merged: ConfigProblem[] = [];
  const byKey = new Map<string, ConfigProblem>();
  for (const problem of problems) {
    const { source } = problem;
    if (source === undefined) {
      merged.push(problem);
      continue;
    }
    const key = JSON.stringify([problem.code, problem.message, source.file, source.path.map(String), source.position]);
    const earlier = byKey.get(key);
    if (earlier === undefined) {
      byKey.set(key, problem);
      merged.push(problem);
    } else {
      const again: ConfigProblem = { ...earlier, alsoAt: [...(earlier.alsoAt ?? []), formatPath(problem.path)] };
      merged[merged.indexOf(earlier)] = again;
      byKey.set(key, again);
    }
  }
  return merged;
}

/** Reads, parses and validates a YAML config file. Relative paths in it (buffer.path) resolve against its folder. */
export function loadConfig(file: string): LoadedConfig {
  const absolute = resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as Error).message})`;
    throw new GatewayError('GW_CONFIG_NOT_FOUND', `config file ${absolute} ${reason}; pass --config FILE (see config/gateway.example.yaml)`);
  }
  const yaml = parseYamlSource(text);
  if (yaml.syntaxErrors.length > 0) {
    const problems = yaml.syntaxErrors.map((e): ConfigProblem => ({ code: 'GW_CONFIG_PARSE', path: [], message: e.message, position: e.position, excerpt: e.excerpt }));
    throw problemsError(absolute, absolute, problems);
  }
  if (yaml.empty) {
    throw problemsError(absolute, absolute, [
      {
        code: 'GW_CONFIG_INVALID',
        path: [],
        message: 'the file is empty (no settings, only comments or blank lines): a config needs at least gateway.id and kafka.brokers; start from config/gateway.example.yaml',
      },
    ]);
  }
  if (typeof yaml.value !== 'object' || yaml.value === null || Array.isArray(yaml.value)) {
    const what = Array.isArray(yaml.value) ? 'a list' : `a single value (${typeof yaml.value})`;
    const position = yaml.positionOf([]) ?? { line: 1, column: 1 };
    throw problemsError(absolute, absolute, [
      {
        code: 'GW_CONFIG_INVALID',
        path: [],
        message: `the top level must be a mapping of sections (gateway:, kafka:, inputs:, …), but the file holds ${what}`,
        position,
        excerpt: excerptAt(text, position),
      },
    ]);
  }
  const configDir = dirname(absolute);
  const config = validateConfig(yaml.value, absolute, configDir, { file: absolute, positionOf: yaml.positionOf });
  if (!isAbsolute(config.buffer.path)) config.buffer.path = resolve(configDir, config.buffer.path);
  return { config, file: absolute, context: inputContext(config, configDir) };
}

export function inputContext(config: GatewayConfig, configDir: string): InputContext {
  return { configDir, driverSearchPaths: driverSearchPaths(configDir, config.drivers.paths) };
}
