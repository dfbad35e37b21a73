/**
 * One problem of a configuration (or of a driver file it uses), the way `check-config` and `run` report it:
 * where it is (`file:line:column`, as editors and terminals link it), the path inside the file, and a message that
 * says what is expected. Every problem is one line item and counts once.
 */
import { relative, isAbsolute } from 'node:path';
import { GatewayError, type ErrorCode } from '../errors.js';
import { formatPath } from './format-path.js';

/** The codes a configuration problem can carry. */
export type ProblemCode = Extract<ErrorCode, 'GW_CONFIG_PARSE' | 'GW_CONFIG_INVALID' | 'GW_DRIVER_NOT_FOUND' | 'GW_DRIVER_INVALID' | 'GW_SECRET_MISSING'>;

export interface SourcePosition {
  /** 1-based, as editors count. */
  line: number;
  column: number;
}

/** A problem at a path, before it is placed in a file (e.g. what a Modbus planner finds in a device's overrides). */
export interface PathProblem {
  path: readonly PropertyKey[];
  message: string;
}

export interface ConfigProblem extends PathProblem {
  code: ProblemCode;
  /** Path in the gateway config (for input checks: relative to the input until the loader prefixes it). */
  path: readonly PropertyKey[];
  /** Where the path sits in the gateway config file, when known. */
  position?: SourcePosition;
  /** When the thing to fix is in another file (a driver file): that file, the path and position inside it. */
  source?: { file: string; path: readonly PropertyKey[]; position?: SourcePosition };
  /** Lines shown under the problem: the offending source line and a caret under the column. */
  excerpt?: readonly string[];
  /** Other config paths with the very same problem (a broken driver file used by several devices). */
  alsoAt?: readonly string[];
}

/** A schema-level problem at a path (the code of most checks beyond the schema). */
export function configProblem(path: readonly PropertyKey[], message: string): ConfigProblem {
  return { code: 'GW_CONFIG_INVALID', path, message };
}

/** A file name as the user can click or paste it: relative to the working folder when inside it. */
export function displayFile(file: string, cwd = process.cwd()): string {
  const rel = relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

function locate(file: string | undefined, position: SourcePosition | undefined): string {
  if (file === undefined) return '';
  return position === undefined ? `${displayFile(file)}: ` : `${displayFile(file)}:${position.line}:${position.column}: `;
}

/**
 * `file:line:column: path: message`. A problem in a driver file is located in that file and says which config
 * path uses it; its code is left out of the line when the whole report carries it (`reportCode`).
 */
export function formatProblem(problem: ConfigProblem, configFile: string | undefined, reportCode?: ProblemCode): string {
  const code = problem.code === reportCode ? '' : `${problem.code}: `;
  const users = [formatPath(problem.path), ...(problem.alsoAt ?? [])].filter((p) => p !== '(root)');
  let line: string;
  if (problem.source !== undefined) {
    const inner = problem.source.path.length > 0 ? `${formatPath(problem.source.path)}: ` : '';
    const usedBy = users.length > 0 ? ` (driver file of ${users.join(', ')})` : '';
    line = `${locate(problem.source.file, problem.source.position)}${inner}${code}${problem.message}${usedBy}`;
  } else {
    const path = problem.path.length > 0 ? `${formatPath(problem.path)}: ` : '';
    line = `${locate(configFile, problem.position)}${path}${code}${problem.message}`;
  }
  return [line, ...(problem.excerpt ?? [])].join('\n');
}

/** Problems in the order of the config file: by position, then by path; problems without a position keep their place. */
export function sortProblems(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const rank = (p: ConfigProblem): number => (p.position === undefined ? Number.MAX_SAFE_INTEGER : p.position.line * 10_000 + p.position.column);
  return problems
    .map((problem, index) => ({ problem, index }))
    .sort((a, b) => rank(a.problem) - rank(b.problem) || a.index - b.index)
    .map(({ problem }) => problem);
}

/**
 * The error that reports every problem at once. Its code does not depend on which problems there are:
 * GW_CONFIG_INVALID (`<file> is invalid`), or GW_CONFIG_PARSE when the file is not YAML at all (then only its
 * syntax errors are listed). Each line of another kind names its own code (GW_DRIVER_NOT_FOUND,
 * GW_DRIVER_INVALID, GW_SECRET_MISSING). The message counts the problems; `notes` (not counted) say what could not
 * be checked yet.
 */
export function problemsError(origin: string, configFile: string | undefined, problems: readonly ConfigProblem[], notes: readonly string[] = []): GatewayError {
  const syntax = problems.length > 0 && problems.every((p) => p.code === 'GW_CONFIG_PARSE');
  const code: ProblemCode = syntax ? 'GW_CONFIG_PARSE' : 'GW_CONFIG_INVALID';
  const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
  return new GatewayError(code, `${origin} ${syntax ? 'is not valid YAML' : 'is invalid'} (${count})`, {
    details: sortProblems(problems).map((p) => formatProblem(p, configFile, code)),
    notes,
  });
}

/** `a`, `a or b`, `a, b or c`: how a list of allowed values reads in a message. */
export function alternatives(values: readonly unknown[]): string {
  return orList(values.map(showValue));
}

/** Texts joined as `a, b or c`. */
export function orList(texts: readonly string[]): string {
  if (texts.length <= 1) return texts[0] ?? '(nothing)';
  return `${texts.slice(0, -1).join(', ')} or ${texts[texts.length - 1] ?? ''}`;
}

/** A value as it would be written in the YAML file (strings bare when that is unambiguous). */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return /^[A-Za-z0-9][A-Za-z0-9._/+-]*$/.test(value) ? value : JSON.stringify(value);
  if (value === null) return 'null';
  return String(value);
}

/** Edit distance with transpositions (optimal string alignment), for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? Number.MAX_SAFE_INTEGER;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      const row = d[i];
      if (row) row[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The candidate a typo most likely meant: the closest by edit distance (ignoring case), if it is close enough to
 * be a slip (at most a third of the word, at least 1) and nearer than any other candidate.
 */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  const needle = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.MAX_SAFE_INTEGER;
  let tie = false;
  for (const candidate of new Set(candidates)) {
    if (candidate === word) continue;
    const distance = editDistance(needle, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
      tie = false;
    } else if (distance === bestDistance) tie = true;
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  // A word of one or two letters that differs everywhere is no typo of anything.
  return best !== undefined && bestDistance <= limit && bestDistance < word.length && !tie ? best : undefined;
}

/** ` (did you mean x?)` or nothing. */
export function didYouMean(word: unknown, candidates: Iterable<string>): string {
  if (typeof word !== 'string' && typeof word !== 'number') return '';
  const match = closestMatch(String(word), candidates);
  return match === undefined ? '' : ` (did you mean ${match}?)`;
}
