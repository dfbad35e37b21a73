/**
 * HL7 acknowledgments the gateway writes: `MSH` + `MSA` (+ `ERR` per problem), answering in the sender's own
 * delimiters and version, addressed back to its MSH-3/MSH-4.
 *
 *   original mode (MSH-15/16 empty): AA after the commit, AE for a message we cannot process, AR for one we refuse
 *   enhanced mode: accept ACK CA / CE / CR per MSH-15 (AL, ER, SU, NE) and application ACK AA / AE / AR per MSH-16
 *
 * ERR: HL7 table 0357 codes (100 segment sequence error, 101 required field missing, 102 data type error,
 * 200 unsupported message type, 203 unsupported version id, 207 application internal error), severity E for an
 * error, W for a warning in a positive ACK; ERR-1 (ELD) for versions before 2.5, ERR-2/3/4/8 from 2.5 on.
 */
import { DEFAULT_DELIMITERS, escapeHl7, formatSegment, type Delimiters } from './parser.js';
import type { MessageHeader } from './header.js';

export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

export interface AckError {
  /** HL7 table 0357 code. */
  code: 100 | 101 | 102 | 200 | 203 | 207;
  text: string;
  severity: 'E' | 'W';
  /** segment^sequence^field, e.g. OBX^7^5. */
  location?: string;
}

const ERROR_NAMES: Record<AckError['code'], string> = {
  100: 'Segment sequence error',
  101: 'Required field missing',
  102: 'Data type error',
  200: 'Unsupported message type',
  203: 'Unsupported version id',
  207: 'Application internal error',
};

export interface AckOptions {
  /** What we answer; undefined when MSH was unreadable (then defaults are used). */
  request: MessageHeader | undefined;
  delimiters: Delimiters | undefined;
  code: AckCode;
  errors: readonly AckError[];
  /** MSH-3 of the ACK when the request named no receiving application. */
  application: string;
  /** MSH-10 of the ACK. */
  controlId: string;
  /** MSH-7 of the ACK. */
  now: Date;
}

/** HL7 DTM of an instant, UTC with an explicit +0000 offset and milliseconds. */
export function hl7Time(date: Date): string {
  const iso = date.toISOString(); // 2024-03-15T10:30:00.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}.${iso.slice(20, 23)}+0000`;
}

function atLeast25(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 5);
}

export function buildAck(o: AckOptions): string {
  const d = o.delimiters ?? DEFAULT_DELIMITERS;
  const r = o.request;
  const version = r?.version || '2.6';
  const enhanced = r?.enhanced ?? false;
  const encoding = `${d.component}${d.repetition}${d.escape}${d.subcomponent}`;
  const msh = formatSegment(
    'MSH',
    [
      d.field,
      encoding,
      // Answer as the application and facility the sender addressed (raw: already in its encoding).
      r?.receivingApplication || escapeHl7(o.application, d),
      r?.receivingFacility ?? '',
      r?.rawSendingApplication ?? '',
      r?.rawSendingFacility ?? '',
      hl7Time(o.now),
      '',
      atLeast25(version) ? ['ACK', r?.trigger ?? '', 'ACK'].join(d.component) : ['ACK', r?.trigger ?? ''].join(d.component),
      escapeHl7(o.controlId, d),
      r?.processingId || 'P',
      version,
      '',
      '',
      // An ACK is never acknowledged (no ping-pong of accept ACKs in enhanced mode).
      enhanced ? 'NE' : '',
      enhanced ? 'NE' : '',
    ],
    d,
  );
  const firstError = o.errors.find((e) => e.severity === 'E');
  const msa = formatSegment('MSA', [o.code, escapeHl7(r?.controlId ?? '', d), firstError ? escapeHl7(firstError.text.slice(0, 80), d) : ''], d);
  const err = o.errors.map((e) => {
    const codeText = [String(e.code), ERROR_NAMES[e.code], 'HL70357'];
    const location = (e.location ?? '').split('^');
    if (!atLeast25(version)) {
      return formatSegment('ERR', [[...location.slice(0, 3), codeText.join(d.subcomponent)].join(d.component)], d);
    }
    return formatSegment('ERR', ['', location.join(d.component), codeText.join(d.component), e.severity, '', '', '', escapeHl7(e.text.slice(0, 250), d)], d);
  });
  return [msh, msa, ...err].join('\r');
}
