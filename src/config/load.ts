import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { GatewayError } from '../errors.js';
import { Secret } from '../util/secret.js';
import { driverSearchPaths } from '../drivers/driver-files.js';
import type { InputContext } from '../inputs/input.js';
import { familyOf } from '../inputs/registry.js';
import { formatPath } from './format-path.js';
import { GatewayConfigSchema, type GatewayConfig } from './schema.js';

export { formatPath } from './format-path.js';

export interface LoadedConfig {
  config: GatewayConfig;
  /** Absolute path of the file it came from; relative paths in it resolve against its folder. */
  file: string;
  /** Where inputs find driver files. */
  context: InputContext;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return `${path}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check the spelling against config/gateway.example.yaml)`;
  }
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator) {
    return `${path}: ${issue.message}`;
  }
  return `${path}: ${issue.message}`;
}

/**
 * Validates an already-parsed config object, including the driver files it references; throws
 * GW_CONFIG_INVALID listing every problem at once.
 */
export function validateConfig(raw: unknown, origin: string, configDir = process.cwd()): GatewayConfig {
  const result = GatewayConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const details = result.error.issues.map(describeIssue);
    throw new GatewayError('GW_CONFIG_INVALID', `${origin} is invalid (${details.length} problem${details.length > 1 ? 's' : ''})`, {
      details,
    });
  }
  const context = inputContext(result.data, configDir);
  const inputProblems = result.data.inputs.flatMap((input, i) =>
    (familyOf(input).check?.(input, context) ?? []).map((problem) => `inputs[${i}].${problem}`),
  );
  if (inputProblems.length > 0) {
    throw new GatewayError('GW_CONFIG_INVALID', `${origin} is invalid (${inputProblems.length} problem${inputProblems.length > 1 ? 's' : ''})`, {
      details: inputProblems,
    });
  }
  const missing = collectSecrets(result.data)
    .map(({ path, secret }) => {
      try {
        secret.reveal();
        return undefined;
      } catch (err) {
        return `${path}: ${(err as Error).message} (secret ${secret.origin})`;
      }
    })
    .filter((x): x is string => x !== undefined);
  if (missing.length > 0) {
    throw new GatewayError('GW_SECRET_MISSING', `${origin} references secrets that are not available`, { details: missing });
  }
  return result.data;
}

function collectSecrets(value: unknown, path: PropertyKey[] = []): { path: string; secret: Secret }[] {
  if (value instanceof Secret) return [{ path: formatPath(path), secret: value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => collectSecrets(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => collectSecrets(v, [...path, k]));
  }
  return [];
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
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new GatewayError('GW_CONFIG_PARSE', `${absolute} is not valid YAML`, {
      details: doc.errors.map((e) => e.message.split('\n')[0] ?? e.message),
    });
  }
  const configDir = dirname(absolute);
  const config = validateConfig(doc.toJS(), absolute, configDir);
  if (!isAbsolute(config.buffer.path)) config.buffer.path = resolve(configDir, config.buffer.path);
  return { config, file: absolute, context: inputContext(config, configDir) };
}

export function inputContext(config: GatewayConfig, configDir: string): InputContext {
  return { configDir, driverSearchPaths: driverSearchPaths(configDir, config.drivers.paths) };
}
