/**
 * The checks beyond the schema (driver files, secrets) need parsed values, yet must run in the same pass as the
 * schema problems, so a config with a typo in one key still gets its drivers and secrets checked. `salvage`
 * finds the largest valid part of a value: unknown keys and invalid keys are dropped (their defaults apply), and
 * list entries that still fail are left out. The caller maps paths of the salvaged value back to the original
 * (`toOriginal`) and ignores findings under `dropped` (they would be about a default, not about the file).
 */
import type { z } from 'zod';
import { PARSE_OPTIONS } from './messages.js';

export interface Salvaged<T> {
  value: T;
  /** Original paths of what was left out: dropped keys and list entries. */
  dropped: readonly (readonly PropertyKey[])[];
  /** List entries left out (a subset of dropped): their own checks could not run. */
  removed: readonly (readonly PropertyKey[])[];
  /** The path in the original value of a path in the salvaged one (list entries left out shift indices). */
  toOriginal(path: readonly PropertyKey[]): PropertyKey[];
}

const MAX_ROUNDS = 6;

type Plain = unknown;

function samePath(a: readonly PropertyKey[], b: readonly PropertyKey[]): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i]);
}

/** True when `path` is `prefix` or lies under it. */
export function isUnder(path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean {
  return prefix.length <= path.length && prefix.every((part, i) => part === path[i]);
}

function isRecord(value: Plain): value is Record<string, Plain> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deleteAt(root: Plain, path: readonly PropertyKey[]): void {
  let node = root;
  for (const part of path.slice(0, -1)) {
    if (Array.isArray(node) && typeof part === 'number') node = node[part];
    else if (isRecord(node)) node = node[String(part)];
    else return;
  }
  const last = path[path.length - 1];
  if (isRecord(node) && last !== undefined) delete node[String(last)];
}

function withoutEntries(value: Plain, removed: readonly (readonly PropertyKey[])[], path: PropertyKey[] = []): Plain {
  if (Array.isArray(value)) {
    return value.flatMap((item: Plain, i) => (removed.some((r) => samePath(r, [...path, i])) ? [] : [withoutEntries(item, removed, [...path, i])]));
  }
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutEntries(v, removed, [...path, k])]));
  return value;
}

function originalPath(removed: readonly (readonly PropertyKey[])[], path: readonly PropertyKey[]): PropertyKey[] {
  const out: PropertyKey[] = [];
  for (const part of path) {
    if (typeof part !== 'number') {
      out.push(part);
      continue;
    }
    // The part-th entry that was kept: skip the left-out ones before it.
    let kept = -1;
    let index = -1;
    while (kept < part) {
      index += 1;
      if (!removed.some((r) => samePath(r, [...out, index]))) kept += 1;
    }
    out.push(index);
  }
  return out;
}

/** The innermost list entry a path lies in (`subscriptions[2]` for `subscriptions[2].qos`). */
function enclosingEntry(path: readonly PropertyKey[]): PropertyKey[] | undefined {
  for (let i = path.length - 1; i >= 0; i--) if (typeof path[i] === 'number') return path.slice(0, i + 1);
  return undefined;
}

/** The largest valid part of `raw` under `schema`, or undefined when even that does not parse. */
export function salvage<S extends z.ZodType>(schema: S, raw: Plain): Salvaged<z.output<S>> | undefined {
  const first = schema.safeParse(raw, PARSE_OPTIONS);
  if (first.success) return { value: first.data, dropped: [], removed: [], toOriginal: (p) => [...p] };
  const base = structuredClone(raw);
  const dropped: PropertyKey[][] = [];
  for (const issue of first.error.issues) {
    const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    for (const path of paths) {
      if (typeof path[path.length - 1] !== 'string') continue;
      deleteAt(base, path);
      dropped.push(path);
    }
  }
  const removed: PropertyKey[][] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const result = schema.safeParse(withoutEntries(base, removed), PARSE_OPTIONS);
    if (result.success) {
      return { value: result.data, dropped: [...dropped, ...removed], removed, toOriginal: (p) => originalPath(removed, p) };
    }
    let progress = false;
    const before = [...removed];
    for (const issue of result.error.issues) {
      const entry = enclosingEntry(originalPath(before, issue.path));
      if (entry !== undefined && !removed.some((r) => isUnder(entry, r))) {
        removed.push(entry);
        progress = true;
      }
    }
    if (!progress) return undefined;
  }
  return undefined;
}
