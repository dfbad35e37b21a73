/**
 * Messages that finish the job, for every zod schema the gateway validates YAML with (the gateway config, driver
 * files): what is expected, what was found, the allowed values of an enum (also when it is a union of literals or a
 * discriminator), "did you mean …?" for near misses, one problem per unknown key with the keys allowed there.
 * A message given in a schema itself (`.regex(re, 'expected host:port')`, custom refinements) always wins.
 *
 * Values from the file are echoed only where they cannot be a secret: enum values, numbers, strings that failed a
 * format check of their own (`expecting`: durations, names, URLs without their user:password), and the type of
 * what was found (a secret written inline where a `{env: NAME}` reference belongs is never repeated).
 */
import { z } from 'zod';
import { alternatives, closestMatch, didYouMean, orList, showValue, type ConfigProblem, type ProblemCode, type SourcePosition } from './problems.js';

type Schema = z.core.$ZodType;

/** The keys an object schema allows, recorded while zod reports an unknown key (the issue keeps the same array). */
const allowedKeysOf = new WeakMap<readonly string[], readonly string[]>();

function unwrap(schema: Schema): Schema {
  let current = schema;
  for (let i = 0; i < 10; i++) {
    if (current instanceof z.core.$ZodOptional || current instanceof z.core.$ZodDefault || current instanceof z.core.$ZodNullable || current instanceof z.core.$ZodReadonly) {
      current = current._zod.def.innerType;
    } else if (current instanceof z.core.$ZodPipe) {
      current = current._zod.def.in;
    } else break;
  }
  return current;
}

/** The keys of an object schema (through optional, default, nullable and transforms), or undefined. */
export function objectShape(schema: unknown): Readonly<Record<string, Schema>> | undefined {
  if (!(schema instanceof z.core.$ZodType)) return undefined;
  const inner = unwrap(schema);
  return inner instanceof z.core.$ZodObject ? inner._zod.def.shape : undefined;
}

function requiredKeys(shape: Readonly<Record<string, Schema>>): string[] {
  return Object.entries(shape)
    // optin is "optional" or "defaulted" for keys that may be left out.
    .filter(([, schema]) => schema._zod.optin === undefined)
    .map(([key]) => key);
}

/** `{env: …}`: the required keys of a mapping, as a sketch of what to write. */
function sketch(shape: Readonly<Record<string, Schema>>): string {
  const keys = requiredKeys(shape);
  return `{${(keys.length > 0 ? keys : Object.keys(shape)).map((k) => `${k}: …`).join(', ')}}`;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  record: 'a mapping (key: value)',
  array: 'a list',
  tuple: 'a list',
  null: 'null',
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

/** What was found, safe to print: numbers and booleans as they are, strings only when `showStrings`. */
function found(input: unknown, showStrings: boolean): string {
  if (input === null) return 'no value';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') {
    if (showStrings && input.length <= 60) {
      const unquoted = /^-?\d+(\.\d+)?$/.test(input) ? ' (a number in quotes: remove the quotes)' : '';
      return `the string ${JSON.stringify(input)}${unquoted}`;
    }
    return 'a string';
  }
  return showValue(input);
}

/** A string value as it is echoed after `got`: quoted, at most 60 characters, with `conceal` applied first. */
function gotString(input: unknown, conceal: (text: string) => string): string {
  if (typeof input !== 'string') return found(input, false);
  const shown = conceal(input);
  return JSON.stringify(shown.length > 60 ? `${shown.slice(0, 59)}…` : shown);
}

/**
 * A schema's own message for a string format check that says what was found, as the enum and number messages do:
 * `.regex(re, expecting('expected host:port'))` reports `expected host:port, got "kafka"`. `conceal` hides what
 * in the value may be a secret. Only for values that are no secret themselves.
 */
export function expecting(expected: string, conceal: (text: string) => string = (text) => text): { error: (issue: { input?: unknown }) => string } {
  return { error: (issue) => `${expected}, got ${gotString(issue.input, conceal)}` };
}

/**
 * A URL (or what was meant as one) with its user:password replaced by [redacted]: `mqtt://[redacted]@host`.
 * Everything up to the last `@` goes, so a URL too malformed to tell its parts apart hides no password either.
 */
export function withoutUserinfo(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?.*@/s, '$1[redacted]@');
}

function branchSchemas(inst: unknown): Schema[] {
  if (!(inst instanceof z.core.$ZodUnion)) return [];
  return inst._zod.def.options.map(unwrap);
}

function discriminatorValue(issue: { input?: unknown; discriminator?: string | undefined }): unknown {
  const { input, discriminator } = issue;
  if (discriminator === undefined || typeof input !== 'object' || input === null) return undefined;
  return (input as Record<string, unknown>)[discriminator];
}

/** Whether the issue is about a key that is not there at all (reported at the mapping that lacks it). */
function isMissing(issue: z.core.$ZodIssue): boolean {
  if (issue.code === 'invalid_union' && issue.discriminator !== undefined) return discriminatorValue(issue) === undefined;
  return issue.input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value' || issue.code === 'invalid_union');
}

function unionMessage(issue: Extract<z.core.$ZodRawIssue, { code: 'invalid_union' }>): string | undefined {
  const { input } = issue;
  const options: unknown = 'options' in issue ? issue.options : undefined;
  if (issue.discriminator !== undefined && Array.isArray(options)) {
    // The issue's input is the whole mapping; its path points at the discriminator key.
    const value = discriminatorValue(issue);
    const allowed = options.filter((o: unknown) => o !== null && o !== undefined);
    if (value === undefined) return `missing (required): expected ${alternatives(allowed)}`;
    return `expected ${alternatives(allowed)}, got ${JSON.stringify(value)}${didYouMean(value, allowed.map(String))}`;
  }
  if (issue.errors.length === 0) return undefined;
  const roots = issue.errors.map((branch) => (branch.length === 1 && branch[0]?.path.length === 0 ? branch[0] : undefined));
  // A union of literals (qos: 0 | 1) is an enum: list every allowed value.
  if (roots.every((r) => r?.code === 'invalid_value')) {
    const values = roots.flatMap((r) => (r?.code === 'invalid_value' ? r.values : []));
    if (input === undefined) return `missing (required): expected ${alternatives(values)}`;
    return `expected ${alternatives(values)}, got ${JSON.stringify(input)}${didYouMean(input, values.map(String))}`;
  }
  const objects = branchSchemas(issue.inst).map(objectShape);
  const allObjects = objects.length > 0 && objects.every((o) => o !== undefined);
  const shapes = allObjects ? orList(objects.map((o) => (o === undefined ? '' : sketch(o)))) : undefined;
  if (input === undefined) return `missing (required): expected ${shapes ?? 'a value'}`;
  // A mapping that fits one branch but for details: report that branch's problems.
  if (allObjects && typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const fitting = issue.errors.filter((branch) => branch.every((i) => i.path.length > 0));
    const best = fitting.sort((a, b) => a.length - b.length)[0];
    if (best !== undefined && best.length > 0) return best.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ');
    const keys = Object.keys(input);
    return `expected ${shapes}${keys.length > 1 ? ' (only one of them)' : ''}, got {${keys.join(', ')}}`;
  }
  if (shapes !== undefined) return `expected ${shapes}, got ${found(input, false)}`;
  if (roots.every((r) => r?.code === 'invalid_type')) {
    const expected = [...new Set(roots.map((r) => (r?.code === 'invalid_type' ? typeName(r.expected) : '')))];
    return `expected ${orList(expected)}, got ${found(input, false)}`;
  }
  return undefined;
}

function sizeMessage(issue: Extract<z.core.$ZodRawIssue, { code: 'too_small' | 'too_big' }>): string | undefined {
  const small = issue.code === 'too_small';
  const bound = Number(small ? issue.minimum : issue.maximum);
  const inclusive = issue.inclusive !== false;
  const { input } = issue;
  switch (issue.origin) {
    case 'number':
    case 'int': {
      const relation = small ? (inclusive ? 'at least' : 'more than') : inclusive ? 'at most' : 'less than';
      return `must be ${relation} ${bound}${typeof input === 'number' ? `, got ${input}` : ''}`;
    }
    case 'array': {
      const count = Array.isArray(input) ? `, got ${input.length}` : '';
      if (issue.exact) return `needs exactly ${bound} entr${bound === 1 ? 'y' : 'ies'}${count}`;
      if (small && bound === 1) return 'needs at least one entry (the list is empty)';
      return `needs ${small ? 'at least' : 'at most'} ${bound} entr${bound === 1 ? 'y' : 'ies'}${count}`;
    }
    case 'string': {
      if (small && bound === 1) return 'must not be empty';
      return `must be ${small ? 'at least' : 'at most'} ${bound} characters long`;
    }
    default:
      return undefined;
  }
}

/**
 * The error map passed to every `safeParse` of a YAML file. Returns undefined (zod's own text) for what it does
 * not improve.
 */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) {
        const shape = issue.expected === 'object' ? objectShape(issue.inst) : undefined;
        const needs = shape === undefined ? [] : requiredKeys(shape);
        return `missing (required${needs.length > 0 ? `; it needs ${needs.join(', ')}` : ''})`;
      }
      if (issue.input === null) return `has no value; expected ${typeName(issue.expected)}`;
      return `expected ${typeName(issue.expected)}, got ${found(issue.input, true)}`;
    }
    case 'invalid_value': {
      if (issue.input === undefined) return `missing (required): expected ${alternatives(issue.values)}`;
      const got = typeof issue.input === 'string' || typeof issue.input === 'number' || typeof issue.input === 'boolean' ? JSON.stringify(issue.input) : found(issue.input, false);
      return `expected ${alternatives(issue.values)}, got ${got}${didYouMean(issue.input, issue.values.map(String))}`;
    }
    case 'invalid_union':
      return unionMessage(issue);
    case 'unrecognized_keys': {
      const shape = objectShape(issue.inst);
      if (shape !== undefined) allowedKeysOf.set(issue.keys, Object.keys(shape));
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    }
    case 'too_small':
    case 'too_big':
      return sizeMessage(issue);
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'invalid_format':
      return issue.format === 'regex' && issue.pattern !== undefined ? `does not match the pattern ${issue.pattern}` : undefined;
    case 'invalid_key':
      return `invalid key: ${issue.issues.map((i) => i.message).join('; ')}`;
    default:
      return undefined;
  }
};

/** How every YAML file is parsed: these messages, and the input kept in issues (to tell missing from wrong). */
export const PARSE_OPTIONS = { error: configErrorMap, reportInput: true } as const;

/** Where problems of one YAML file are located: positions by path, when the file is known. */
export type PositionOf = (path: readonly PropertyKey[], options?: { key?: boolean }) => SourcePosition | undefined;

function pathKey(path: readonly PropertyKey[]): string {
  return JSON.stringify(path.map(String));
}

/**
 * zod issues (parsed with PARSE_OPTIONS) as problems: one per unknown key, each at its line, with a suggestion or
 * the keys allowed there. A misspelled required key is one problem, not two: when an unknown key's suggestion is
 * a key reported missing in the same mapping, the missing key is said in the unknown key's problem, at its line.
 */
export function issueProblems(issues: readonly z.core.$ZodIssue[], code: ProblemCode, positionOf: PositionOf = () => undefined): ConfigProblem[] {
  const missing = new Map(issues.filter(isMissing).map((issue) => [pathKey(issue.path), issue]));
  const absorbed = new Set<z.core.$ZodIssue>();
  const unknownKey = (at: readonly PropertyKey[], key: string, allowed: readonly string[] | undefined): ConfigProblem => {
    const path = [...at, key];
    const meant = allowed === undefined ? undefined : closestMatch(key, allowed);
    const missingIssue = meant === undefined ? undefined : missing.get(pathKey([...at, meant]));
    if (missingIssue !== undefined) absorbed.add(missingIssue);
    const rest =
      allowed === undefined
        ? ' (check the spelling against config/gateway.example.yaml)'
        : meant === undefined
          ? `; allowed here: ${allowed.join(', ')}`
          : ` (did you mean ${meant}?${missingIssue === undefined ? '' : ' it is required and missing'})`;
    return { code, path, message: `unknown key${rest}`, position: positionOf(path, { key: true }) };
  };
  // Unknown keys first: they decide which missing keys they stand for.
  const unknown = new Map<z.core.$ZodIssue, ConfigProblem[]>();
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') unknown.set(issue, issue.keys.map((key) => unknownKey(issue.path, key, allowedKeysOf.get(issue.keys))));
  }
  return issues.flatMap((issue): ConfigProblem[] => {
    if (absorbed.has(issue)) return [];
    const unknownProblems = unknown.get(issue);
    if (unknownProblems !== undefined) return unknownProblems;
    // A missing key is reported at the mapping that lacks it; an invalid record key at the key itself.
    const position = isMissing(issue)
      ? positionOf(issue.path.slice(0, -1), { key: true })
      : positionOf(issue.path, { key: issue.code === 'invalid_key' });
    return [{ code, path: issue.path, message: issue.message, position }];
  });
}
