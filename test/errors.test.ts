import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/errors.js';

const root = resolve(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('error code registry', () => {
  it('documents every code in docs/errors.md, and documents no code that does not exist', () => {
    const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| `(GW_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('uses only registered codes in the source', () => {
    const used = new Set<string>();
    for (const file of sourceFiles(join(root, 'src'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/['"`](GW_[A-Z0-9_]+)['"`]/g)) used.add(m[1] ?? '');
    }
    const unknown = [...used].filter((code) => !(code in ERROR_CODES));
    expect(unknown).toEqual([]);
  });
});
