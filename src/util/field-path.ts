/**
 * Field paths into decoded JSON: `temperature`, `ENERGY.Power`, `values[0]`, `sensors["DS18B20-1"].Temperature`.
 * Compiled once at config time; reading a path never throws.
 */
export type FieldPath = readonly (string | number)[];

const TOKEN = /\.?([^.[\]]+)|\[(\d+)\]|\[\s*(["'])(.*?)\3\s*\]/gy;

/** Parses a path; undefined when it is malformed. */
export function compileFieldPath(text: string): FieldPath | undefined {
  const parts: (string | number)[] = [];
  TOKEN.lastIndex = 0;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while (consumed < text.length && (match = TOKEN.exec(text)) !== null) {
    if (match[1] !== undefined) parts.push(match[1]);
    else if (match[2] !== undefined) parts.push(Number(match[2]));
    else parts.push(match[4] ?? '');
    consumed = TOKEN.lastIndex;
  }
  if (consumed !== text.length || parts.length === 0) return undefined;
  return parts;
}

const MISSING = Symbol('missing');
export type Missing = typeof MISSING;
export const isMissing = (value: unknown): value is Missing => value === MISSING;

/** The value at a path, or MISSING when any step does not exist. */
export function readFieldPath(root: unknown, path: FieldPath): unknown {
  let current: unknown = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return MISSING;
    if (typeof part === 'number') {
      if (!Array.isArray(current) || part >= current.length) return MISSING;
      current = current[part];
    } else {
      if (Array.isArray(current) || !Object.prototype.hasOwnProperty.call(current, part)) return MISSING;
      current = (current as Record<string, unknown>)[part];
    }
  }
  return current;
}
