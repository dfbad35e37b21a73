/**
 * Documentation that must stay true by itself: config/gateway.example.yaml shows every option of the config
 * schema (set, or commented out where it is optional), each option it sets at its default (or with the default named
 * in its comment), and nothing in the repository points at files outside it.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { GatewayConfigSchema, configJsonSchema } from '../src/config/schema.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');

interface SchemaNode {
  $ref?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  allOf?: SchemaNode[];
}

/** Every option path of the schema (`kafka.tls.ca`; array items add no segment; `*` for any record key). */
function schemaPaths(): string[] {
  const root = configJsonSchema() as SchemaNode & { $defs?: Record<string, SchemaNode> };
  const defs = root.$defs ?? {};
  const deref = (n: SchemaNode | undefined): SchemaNode | undefined => {
    let node = n;
    while (node?.$ref !== undefined) node = defs[node.$ref.split('/').pop() ?? ''];
    return node;
  };
  // A secret ({env} | {file} | {credential}) is one option, not three.
  const isSecret = (n: SchemaNode): boolean => {
    const branches = n.anyOf ?? n.oneOf ?? [];
    return branches.length > 0 && branches.every((b) => {
      const keys = Object.keys(deref(b)?.properties ?? {});
      return keys.length === 1 && ['env', 'file', 'credential'].includes(keys[0] ?? '');
    });
  };
  const paths = new Set<string>();
  const walk = (n: SchemaNode | undefined, path: string[]): void => {
    const node = deref(n);
    if (node === undefined || isSecret(node)) return;
    for (const branch of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) walk(branch, path);
    if (node.items) walk(node.items, path);
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      paths.add([...path, key].join('.'));
      walk(child, [...path, key]);
    }
    if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, [...path, '*']);
  };
  walk(root, []);
  return [...paths];
}

/**
 * The option paths a YAML file shows, commented-out lines included (`# key: value` at the key's indentation, each
 * `#` and one space after it removed): block keys by indentation, list items, and the keys of `{ … }` flow maps.
 */
export function shownPaths(text: string): Set<string> {
  const shown = new Set<string>();
  const stack: { indent: number; key: string }[] = [];
  for (const raw of text.split('\n')) {
    // Commented out, possibly twice (an alternative inside a commented-out block).
    let line = raw;
    for (let c = /^(\s*)# ?(.*)$/.exec(line); c !== null; c = /^(\s*)# ?(.*)$/.exec(line)) line = `${c[1] ?? ''}${c[2] ?? ''}`;
    let indent = /^ */.exec(line)?.[0].length ?? 0;
    // A list item belongs to what is above its dash; its keys sit where its content starts.
    const column = indent;
    line = line.slice(indent);
    while (line.startsWith('- ')) {
      indent += 2;
      line = line.slice(2).trimStart();
    }
    const key = /^([A-Za-z][\w-]*):(?:\s+(.*))?$/.exec(line);
    // Blank lines and prose say nothing about structure.
    if (key === null && !line.startsWith('{')) continue;
    while ((stack.at(-1)?.indent ?? -1) >= column) stack.pop();
    const parent = stack.map((s) => s.key);
    const value = key ? (key[2] ?? '') : line;
    const path = key ? [...parent, key[1] ?? ''] : parent;
    if (key) {
      shown.add(path.join('.'));
      stack.push({ indent, key: key[1] ?? '' });
    }
    if (!value.startsWith('{')) continue;
    // Flow map: `{ a: 1, b: { c: 2 } }` under this line's path (the value before a trailing comment).
    const flow = [...path];
    let depth = 0;
    let last: string | undefined;
    for (const token of value.split(/\s#/)[0]?.matchAll(/([A-Za-z][\w-]*)\s*:|[{}]/g) ?? []) {
      if (token[0] === '{') {
        if (depth > 0 && last !== undefined) flow.push(last);
        depth += 1;
      } else if (token[0] === '}') {
        depth -= 1;
        if (depth > 0) flow.pop();
      } else if (depth > 0) {
        last = token[1] ?? '';
        shown.add([...flow, last].join('.'));
      }
    }
  }
  return shown;
}

describe('config/gateway.example.yaml', () => {
  it('shows every option of the config schema', () => {
    const shown = [...shownPaths(readFileSync(join(ROOT, 'config/gateway.example.yaml'), 'utf8'))];
    const matches = (pattern: string) => {
      const want = pattern.split('.');
      return shown.some((p) => {
        const have = p.split('.');
        return have.length === want.length && want.every((w, i) => w === '*' || w === have[i]);
      });
    };
    const paths = schemaPaths();
    expect(paths.length).toBeGreaterThan(100); // the walk found the schema, not nothing
    expect(paths.filter((p) => !matches(p))).toEqual([]);
  });

  it('shows each option it sets at its default, or names the default in its comment', () => {
    // The commented-out inputs (Modbus, serial, HL7) are read too: one level of `# ` removed, as config.test.ts does.
    let inBlock = false;
    const text = readFileSync(join(ROOT, 'config/gateway.example.yaml'), 'utf8')
      .split('\n')
      .map((line) => {
        if (/^ {2}# - type: \S+/.test(line)) inBlock = true;
        else if (line.trim() === '') inBlock = false;
        return inBlock ? line.replace(/^ {2}# ?/, '  ') : line;
      })
      .join('\n');
    const doc = parseDocument(text);
    const example = doc.toJS() as unknown;
    const parsed = GatewayConfigSchema.safeParse(example);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    type Path = (string | number)[];
    const at = (value: unknown, path: Path): unknown => path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined), value);
    // Every scalar option the file sets, with its comment: keys of the config's objects and of the items of its
    // first-level lists (inputs). Items of nested lists (a subscription's metrics, a bus's devices) are examples
    // chosen to show variety, not defaults.
    const shown: { path: Path; comment: string }[] = [];
    const collect = (node: unknown, path: Path, listDepth: number): void => {
      if (isMap(node)) {
        for (const pair of node.items) {
          if (!isScalar(pair.key)) continue;
          const key = String(pair.key.value);
          if (isScalar(pair.value)) shown.push({ path: [...path, key], comment: `${pair.value.comment ?? ''} ${pair.key.commentBefore ?? ''}` });
          else collect(pair.value, [...path, key], listDepth);
        }
      } else if (isSeq(node) && listDepth === 0) {
        node.items.forEach((item, i) => collect(item, [...path, i], listDepth + 1));
      }
    };
    collect(doc.contents, [], 0);
    const wrong: string[] = [];
    let withDefault = 0;
    for (const { path, comment } of shown) {
      // The default is what the schema fills in when the option is left out.
      const without = structuredClone(example);
      const parent = at(without, path.slice(0, -1)) as Record<string | number, unknown>;
      delete parent[path.at(-1) ?? ''];
      const filled = GatewayConfigSchema.safeParse(without);
      if (!filled.success) continue; // required, or needed by another option: no default to show
      const def = at(filled.data, path);
      if (def === undefined) continue; // optional, off unless set
      withDefault += 1;
      const value = at(parsed.data, path);
      if (JSON.stringify(value) !== JSON.stringify(def) && !comment.includes(`default ${String(def)}`)) {
        wrong.push(`${path.join('.')}: shows ${JSON.stringify(at(example, path))}, the default is ${JSON.stringify(def)}`);
      }
    }
    expect(withDefault).toBeGreaterThan(60); // the walk reached the options, not nothing
    expect(wrong).toEqual([]);
  });

  it('the scanner reads what it should (block keys, commented keys, list items, flow maps)', () => {
    const text = ['a:', '  b: 1', '  # c: { d: 2, e: { f: 3 } }   # g: no', 'list:', '  # prose: not a parent of the item below', '  - { x: 1 }', '  # - y: 2', '    z: 3'].join('\n');
    expect([...shownPaths(text)].sort()).toEqual(['a', 'a.b', 'a.c', 'a.c.d', 'a.c.e', 'a.c.e.f', 'list', 'list.prose', 'list.x', 'list.y', 'list.z'].sort());
  });
});

describe('the repository stands alone', () => {
  it('no tracked file points at ../shared (a clone has no such folder)', async () => {
    const { stdout } = await run('git', ['grep', '-l', '-I', '-F', '../shared/', '--', '.', ':!test/docs.test.ts'], { cwd: ROOT }).catch((err: { code?: number; stdout?: string }) => {
      if (err.code === 1) return { stdout: '' }; // git grep: nothing found
      throw err;
    });
    expect(stdout.split('\n').filter(Boolean)).toEqual([]);
  });
});
