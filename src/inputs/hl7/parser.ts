/**
 * HL7 v2 "ER7" (pipe-delimited) messages: parsing into segments, fields, repetitions, components and
 * subcomponents with the delimiters the message declares in MSH-1/MSH-2, escape decoding, and the encoding side
 * for what the gateway writes (ACKs, the simulator's messages).
 *
 * Why our own: `@medplum/core` 4.5 (`Hl7Message`) does not decode escapes (\F\ stays "\F\") nor split
 * subcomponents, and brings a 3.3 MB FHIR client for it; `node-hl7-client` 3.2 decodes escapes but its path API
 * returns the first repetition for `PID.3[2]` and shifts component indexes inside repetition nodes, and it takes
 * ~40× longer than this parser for a 22-segment PCD-01 message (BENCHMARKS.md, "HL7 parser").
 * HL7 v2's syntax is small; its quirks (MSH-1 is the separator itself, MSH-2 is not split, segment terminators
 * CR / LF / CRLF in the wild) are cheaper to get right here than to work around.
 *
 * Positions follow HL7 numbering: field 1 is the first after the segment name (for MSH, MSH-1 is the field
 * separator itself), repetitions, components and subcomponents count from 1. Values are decoded lazily: raw
 * strings are kept and `text()` unescapes.
 */

export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export const DEFAULT_DELIMITERS: Readonly<Delimiters> = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

export interface Segment {
  name: string;
  /** Raw fields; index 0 is the segment name (for MSH, index 1 is MSH-1 = the field separator). */
  fields: readonly string[];
  /** Index of the segment in the message (0 = MSH). */
  index: number;
}

export class Hl7ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Hl7ParseError';
  }
}

/** A parsed message: segments and the delimiters to read them with. */
export class Hl7Message {
  readonly delimiters: Delimiters;
  readonly segments: readonly Segment[];

  constructor(delimiters: Delimiters, segments: readonly Segment[]) {
    this.delimiters = delimiters;
    this.segments = segments;
  }

  get header(): Segment {
    return this.segments[0] as Segment;
  }

  /** First segment with this name. */
  segment(name: string): Segment | undefined {
    return this.segments.find((s) => s.name === name);
  }

  /** Raw field `n` of a segment ('' when absent). */
  raw(segment: Segment | undefined, n: number): string {
    return segment?.fields[n] ?? '';
  }

  /** The repetitions of a field (raw). MSH-2 (the encoding characters) is never split. */
  repetitions(segment: Segment | undefined, n: number): string[] {
    const raw = this.raw(segment, n);
    if (raw === '') return [];
    if (segment?.name === 'MSH' && n <= 2) return [raw];
    return raw.split(this.delimiters.repetition);
  }

  /**
   * Decoded text of field n, repetition r, component c, subcomponent s (all from 1; 0 for a component or
   * subcomponent means "the whole" repetition or component, escapes decoded).
   */
  text(segment: Segment | undefined, n: number, c = 0, s = 0, r = 1): string {
    const rep = this.repetitions(segment, n)[r - 1] ?? '';
    if (segment?.name === 'MSH' && n <= 2) return rep;
    return this.decode(pick(pick(rep, this.delimiters.component, c), this.delimiters.subcomponent, s));
  }

  /** The components of a repetition (decoded). */
  components(rawRepetition: string): string[] {
    return rawRepetition.split(this.delimiters.component).map((c) => this.decode(c));
  }

  /** Decodes the escape sequences of one leaf value (see `unescapeHl7`). */
  decode(value: string): string {
    return value.includes(this.delimiters.escape) ? unescapeHl7(value, this.delimiters) : value;
  }
}

function pick(value: string, separator: string, position: number): string {
  if (position === 0) return value;
  if (position === 1) {
    const end = value.indexOf(separator);
    return end < 0 ? value : value.slice(0, end);
  }
  return value.split(separator)[position - 1] ?? '';
}

/**
 * Splits a message into segments. Segments end with CR (the standard); LF and CRLF are accepted too, since
 * files and some interface engines use them. Empty lines are skipped. Throws Hl7ParseError when there is no
 * MSH header or the delimiters it declares are unusable; everything after that is tolerant (a short segment
 * simply has fewer fields).
 */
export function parseHl7(text: string): Hl7Message {
  const start = text.indexOf('MSH');
  if (start < 0) throw new Hl7ParseError('no MSH segment');
  if (text.slice(0, start).trim() !== '') throw new Hl7ParseError(`the message must start with MSH (found ${JSON.stringify(text.slice(0, Math.min(start, 12)))} before it)`);
  const delimiters = readDelimiters(text.slice(start, start + 8));
  const segments: Segment[] = [];
  for (const line of text.slice(start).split(/\r\n|\r|\n/)) {
    if (line.trim() === '') continue;
    const fields = line.split(delimiters.field);
    const name = fields[0] ?? '';
    if (!/^[A-Z][A-Z0-9]{2}$/.test(name)) {
      throw new Hl7ParseError(`segment ${segments.length + 1} has no valid name (${JSON.stringify(name.slice(0, 12))}): expected three letters or digits like OBX`);
    }
    if (segments.length === 0) {
      // MSH-1 is the field separator itself: put it back as a field so MSH-n is fields[n] like for every segment.
      fields.splice(1, 0, delimiters.field);
    }
    segments.push({ name, fields, index: segments.length });
  }
  return new Hl7Message(delimiters, segments);
}

function readDelimiters(head: string): Delimiters {
  if (head.length < 8) throw new Hl7ParseError('MSH is too short to declare its delimiters (MSH|^~\\&)');
  const field = head.charAt(3);
  const [component, repetition, escape, subcomponent] = [head.charAt(4), head.charAt(5), head.charAt(6), head.charAt(7)];
  const chars = [field, component, repetition, escape, subcomponent];
  const unusable = chars.some((c) => /[A-Za-z0-9\r\n ]/.test(c));
  if (unusable || new Set(chars).size !== chars.length) {
    throw new Hl7ParseError(`MSH-1/MSH-2 declare unusable delimiters ${JSON.stringify(head.slice(3, 8))} (expected five distinct punctuation characters like |^~\\&)`);
  }
  return { field, component, repetition, escape, subcomponent };
}

/**
 * Decodes HL7 escape sequences: \F\ \S\ \T\ \R\ \E\ (the delimiters), \Xhh…\ (bytes, read as Latin-1/UTF-8 code
 * points), \.br\ (line break); \H\ \N\ (highlighting on/off) are dropped. Anything else — character set
 * switches (\C…\, \M…\), other formatting commands, an unterminated escape — is kept as it was, so no
 * information is silently lost.
 */
export function unescapeHl7(value: string, d: Delimiters): string {
  let out = '';
  let i = 0;
  while (i < value.length) {
    const start = value.indexOf(d.escape, i);
    if (start < 0) {
      out += value.slice(i);
      break;
    }
    out += value.slice(i, start);
    const end = value.indexOf(d.escape, start + 1);
    if (end < 0) {
      out += value.slice(start);
      break;
    }
    const body = value.slice(start + 1, end);
    const decoded = decodeEscape(body, d);
    out += decoded ?? value.slice(start, end + 1);
    i = end + 1;
  }
  return out;
}

function decodeEscape(body: string, d: Delimiters): string | undefined {
  switch (body) {
    case 'F':
      return d.field;
    case 'S':
      return d.component;
    case 'T':
      return d.subcomponent;
    case 'R':
      return d.repetition;
    case 'E':
      return d.escape;
    case 'H':
    case 'N':
      return '';
    case '.br':
      return '\n';
  }
  if (/^X([0-9A-Fa-f]{2})+$/.test(body)) return Buffer.from(body.slice(1), 'hex').toString('utf8');
  return undefined;
}

/** Escapes text for a field value: the delimiters and the escape character become \F\ \S\ \T\ \R\ \E\. */
export function escapeHl7(text: string, d: Delimiters = DEFAULT_DELIMITERS): string {
  let out = '';
  for (const ch of text) {
    if (ch === d.escape) out += `${d.escape}E${d.escape}`;
    else if (ch === d.field) out += `${d.escape}F${d.escape}`;
    else if (ch === d.component) out += `${d.escape}S${d.escape}`;
    else if (ch === d.subcomponent) out += `${d.escape}T${d.escape}`;
    else if (ch === d.repetition) out += `${d.escape}R${d.escape}`;
    else if (ch === '\r' || ch === '\n') out += `${d.escape}.br${d.escape}`;
    else out += ch;
  }
  return out;
}

/**
 * One segment as text, trailing empty fields dropped. `fields` are the already escaped fields after the name;
 * for MSH they start at MSH-1 (the field separator), which the join itself writes.
 */
export function formatSegment(name: string, fields: readonly string[], d: Delimiters = DEFAULT_DELIMITERS): string {
  const parts = [name, ...(name === 'MSH' ? fields.slice(1) : fields)];
  let n = parts.length;
  while (n > 1 && parts[n - 1] === '') n -= 1;
  return parts.slice(0, n).join(d.field);
}
