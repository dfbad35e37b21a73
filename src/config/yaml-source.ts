/**
 * A YAML file (gateway config or driver file) parsed with its positions kept, so a problem at a path can be
 * reported at `line:column`, and syntax errors show the offending line with a caret under the column.
 */
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { SourcePosition } from './problems.js';

export interface YamlSyntaxError {
  message: string;
  position: SourcePosition;
  excerpt: string[];
}

export interface YamlSource {
  /** The parsed value (undefined for a file that holds nothing but comments and blank lines). */
  value: unknown;
  /** True when the file holds no document at all. */
  empty: boolean;
  syntaxErrors: YamlSyntaxError[];
  /**
   * Where a path sits: the key of the last path element when it is a mapping key (`key` true), else its value;
   * for a path that does not exist, the deepest part of it that does.
   */
  positionOf(path: readonly PropertyKey[], options?: { key?: boolean }): SourcePosition | undefined;
}

/** The source line at `position` and a caret under its column, indented as a quotation. */
export function excerptAt(text: string, position: SourcePosition): string[] {
  const line = text.split(/\r?\n/)[position.line - 1] ?? '';
  const gutter = String(position.line).length;
  const shown = line.replace(/\t/g, ' ');
  return [`${String(position.line).padStart(gutter)} | ${shown}`, `${' '.repeat(gutter)} | ${' '.repeat(Math.max(0, position.column - 1))}^`];
}

export function parseYamlSource(text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const at = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const syntaxErrors = doc.errors.map((error) => {
    const position = at(error.pos[0]);
    return { message: error.message, position, excerpt: excerptAt(text, position) };
  });
  return {
    value: doc.toJS(),
    empty: doc.contents === null,
    syntaxErrors,
    positionOf(path, options = {}) {
      const offset = offsetOf(doc, path, options.key ?? false);
      return offset === undefined ? undefined : at(offset);
    },
  };
}

function resolveAlias(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

function start(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}

function offsetOf(doc: Document, path: readonly PropertyKey[], wantKey: boolean): number | undefined {
  let node: unknown = doc.contents;
  let best = start(node);
  for (let i = 0; i < path.length; i++) {
    const part = path[i];
    node = resolveAlias(doc, node);
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(part));
      if (pair === undefined) return best;
      const keyStart = start(pair.key);
      if (last && wantKey) return keyStart ?? best;
      // A key written with no value (`port:`) has no value node: point at the key.
      node = pair.value;
      best = start(node) ?? keyStart ?? best;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part];
      if (item === undefined) return best;
      node = item;
      best = start(node) ?? best;
    } else {
      return best;
    }
  }
  return best;
}
