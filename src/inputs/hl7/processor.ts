/**
 * One MLLP frame → what to store, which receipt to record, which ACKs to send once that is committed. The input
 * (hl7-input.ts) owns the sockets and the order; this class owns the HL7 rules:
 *
 * | message                                   | stored                         | original | enhanced accept / application |
 * |-------------------------------------------|--------------------------------|----------|-------------------------------|
 * | handled type, mapped                      | events + receipt               | AA       | CA / AA                       |
 * | … some observations unusable              | events + 1 dead letter + rcpt  | AA + ERR W | CA / AA (ERR W)             |
 * | resend of a committed message (same key   | the receipt again (no events)  | AA       | CA / AA                       |
 * |   MSH-3+MSH-4+MSH-10, same content)       |                                |          |                               |
 * | not HL7 / no usable MSH / bad segments    | 1 dead letter                  | AE + ERR | CE / AE                       |
 * | unsupported type, unsupported: reject     | nothing                        | AR + ERR | CR / AR                       |
 * | unsupported type, unsupported: dead-letter| 1 dead letter + receipt        | AA       | CA / AA                       |
 * | unsupported version, no MSH-10            | nothing                        | AR + ERR | CR / AR                       |
 * | frame over maxFrameBytes                  | 1 dead letter (head of frame)  | AR + ERR | CR / AR                       |
 * | an ACK (answer to something we sent)      | nothing                        | —        | —                             |
 *
 * Enhanced mode sends the accept ACK when MSH-15 asks for it (AL always, ER on errors, SU on success, NE never)
 * and the application ACK the same way by MSH-16. Every ACK waits for the commit of what the message stored; a
 * failed commit sends nothing (the input drops the connection, the sender sends again).
 */
import type { EventDraft } from '../../events/schema.js';
import type { Clock } from '../../util/clock.js';
import type { FoundReceipt, IngestSink, ReceiptLedger, SourceReceipt } from '../input.js';
import { buildAck, type AckCode, type AckError } from './ack.js';
import type { Hl7InputConfigT } from './config.js';
import { contentDigest, readHeader, receiptKey, type MessageHeader } from './header.js';
import { ObservationMapper, type CompiledHl7Driver } from './mapping.js';
import type { MllpItem } from './mllp.js';
import { Hl7ParseError, parseHl7, type Delimiters, type Hl7Message } from './parser.js';

export type Outcome = 'accepted' | 'resend' | 'error' | 'refused' | 'ignored' | 'garbage';

export interface Decision {
  outcome: Outcome;
  /** Resolves once what the frame stored is committed (at once when it stored nothing); rejects on a failed commit. */
  committed: Promise<void>;
  /** ACK messages (unframed) to send, in order, after `committed`. */
  acks: string[];
  /** Their MSA-1 codes, same order. */
  ackCodes: AckCode[];
  /** For logs and metrics. */
  reason?: string;
  controlId?: string;
  /** The key was committed before with other content: a sender that reused a control id (stored as new). */
  reusedControlId?: boolean;
  unknownUnits: readonly string[];
  ignoredObservations: number;
  drafts: number;
}

export interface ProcessorDeps {
  sink: IngestSink;
  receipts: ReceiptLedger;
  clock: Clock;
  gatewayId: string;
}

/** Three-way outcome of the HL7 rules: positive (stored), error (could not process), refused. */
type Verdict = 'positive' | 'error' | 'refused';

const ACK_CODES: Record<'original' | 'accept' | 'application', Record<Verdict, AckCode>> = {
  original: { positive: 'AA', error: 'AE', refused: 'AR' },
  accept: { positive: 'CA', error: 'CE', refused: 'CR' },
  application: { positive: 'AA', error: 'AE', refused: 'AR' },
};

function wanted(kind: MessageHeader['acceptAck'], verdict: Verdict): boolean {
  return kind === 'AL' || (kind === 'ER' && verdict !== 'positive') || (kind === 'SU' && verdict === 'positive');
}

export class Hl7Processor {
  readonly #config: Hl7InputConfigT;
  readonly #driver: CompiledHl7Driver;
  readonly #deps: ProcessorDeps;
  readonly source: string;
  #ackCounter = 0;

  constructor(config: Hl7InputConfigT, driver: CompiledHl7Driver, deps: ProcessorDeps) {
    this.#config = config;
    this.#driver = driver;
    this.#deps = deps;
    this.source = `hl7:${config.name}`;
  }

  /** Decides what one framer item means; `peer` names the connection in dead letters (`mllp 10.1.2.3:51000`). */
  handle(item: MllpItem, peer: string): Decision {
    const receivedAt = new Date(this.#deps.clock.now()).toISOString();
    if (item.kind === 'garbage') {
      const dl = this.#deadLetter(this.#config.name, peer, item.bytes, item.bytes.length, item.reason, receivedAt);
      return this.#decision('garbage', this.#deps.sink.append([dl]), [], { reason: item.reason });
    }
    if (item.kind === 'oversize') {
      const reason = `message at byte offset ${item.offset} has ${item.size} bytes, more than maxFrameBytes ${this.#config.maxFrameBytes}`;
      // The head usually holds MSH: answer with the sender's control id so it stops resending.
      const head = tryParse(firstSegment(item.head));
      const header = head ? readHeader(head) : undefined;
      const dl = this.#deadLetter(header?.sender || this.#config.name, peer, item.head, item.size, `${reason} (first ${item.head.length} bytes kept)`, receivedAt);
      const acks = this.#acks(header, head?.delimiters, 'refused', [{ code: 207, severity: 'E', text: `message too large (${item.size} bytes, limit ${this.#config.maxFrameBytes})` }]);
      return this.#decision('refused', this.#deps.sink.append([dl]), acks, { reason, controlId: header?.controlId });
    }
    return this.#frame(item.payload, item.offset, peer, receivedAt);
  }

  #frame(payload: Buffer, offset: number, peer: string, receivedAt: string): Decision {
    const text = payload.toString(charsetOf(payload));
    let msg: Hl7Message;
    try {
      msg = parseHl7(text);
    } catch (err) {
      if (!(err instanceof Hl7ParseError)) throw err;
      // Enough of MSH may still be readable to answer with the sender's control id.
      const head = tryParse(firstSegment(payload));
      const header = head ? readHeader(head) : undefined;
      const reason = `message at byte offset ${offset}: ${err.message}`;
      const dl = this.#deadLetter(header?.sender || this.#config.name, peer, payload, payload.length, reason, receivedAt);
      const acks = this.#acks(header, head?.delimiters, 'error', [{ code: 100, severity: 'E', text: err.message }]);
      return this.#decision('error', this.#deps.sink.append([dl]), acks, { reason, controlId: header?.controlId });
    }
    const header = readHeader(msg);
    const d = msg.delimiters;
    if (header.messageType === 'ACK') return this.#decision('ignored', Promise.resolve(), [], { reason: 'an ACK', controlId: header.controlId });
    const type = `${header.messageType}^${header.trigger}`;
    const refuse = (code: AckError['code'], why: string, location: string): Decision =>
      this.#decision('refused', Promise.resolve(), this.#acks(header, d, 'refused', [{ code, severity: 'E', text: why, location }]), {
        reason: `message ${header.controlId || '(no MSH-10)'} from ${header.sender || '?'} refused: ${why}`,
        controlId: header.controlId,
      });
    if (header.controlId === '') return refuse(101, 'MSH-10 (message control id) is required', 'MSH^1^10');
    if (header.messageType === '') return refuse(101, 'MSH-9 (message type) is required', 'MSH^1^9');
    if (!this.#driver.versions.some((v) => header.version === v || header.version.startsWith(`${v}.`))) {
      return refuse(203, `HL7 version "${header.version}" is not accepted (driver ${this.#driver.driver.name} accepts ${this.#driver.versions.join(', ')})`, 'MSH^1^12');
    }
    const kind = this.#driver.messages.get(type);
    const key = receiptKey(header);
    const receipt: SourceReceipt = { source: this.source, key, digest: contentDigest(msg) };
    const found = this.#deps.receipts.find(this.source, key);
    const resend = found !== undefined && found.digest === receipt.digest ? found : undefined;
    if (kind === undefined) {
      if (this.#config.unsupported === 'reject') {
        return refuse(200, `message type ${type} is not handled (driver ${this.#driver.driver.name} handles ${[...this.#driver.messages.keys()].join(', ')})`, 'MSH^1^9');
      }
      const dl = this.#deadLetter(header.sender || this.#config.name, peer, payload, payload.length, `message type ${type} is not handled (unsupported: dead-letter)`, receivedAt);
      return this.#store(header, d, [dl], receipt, resend, [], { reason: `unsupported ${type}` });
    }
    const mapper = new ObservationMapper(this.#driver, { deviceIdTemplate: this.#config.deviceId, timezone: this.#config.timezone, receivedAt }, msg, header);
    const mapped = mapper.map(kind);
    const drafts = [...mapped.drafts];
    const warnings: AckError[] = mapped.problems.map((p, i) => ({ code: 102, severity: 'W', text: p, location: mapped.locations[i] ?? '' }));
    if (mapped.problems.length > 0) {
      drafts.push(this.#deadLetter(drafts[0]?.deviceId ?? (header.sender || this.#config.name), peer, payload, payload.length, `message ${header.controlId} at byte offset ${offset}: ${mapped.problems.join('; ')}`, receivedAt));
    }
    return this.#store(header, d, drafts, receipt, resend, warnings, {
      unknownUnits: mapped.unknownUnits,
      ignoredObservations: mapped.ignored,
      reusedControlId: found !== undefined && resend === undefined,
    });
  }

  /** Appends drafts with the receipt (or, for a resend, waits for the original's commit and records the receipt again). */
  #store(
    header: MessageHeader,
    d: Delimiters,
    drafts: EventDraft[],
    receipt: SourceReceipt,
    resend: FoundReceipt | undefined,
    warnings: AckError[],
    extra: Partial<Decision>,
  ): Decision {
    const sink = this.#deps.sink;
    const acks = this.#acks(header, d, 'positive', warnings);
    if (resend) {
      // The original may still be in its group commit (a sender that timed out fast): ACK once that is durable.
      // If that commit failed, the original was never acknowledged: this copy is stored as the message.
      const committed = resend.committed.then(
        () => sink.append([], receipt),
        () => sink.append(drafts, receipt),
      );
      return this.#decision('resend', committed, acks, { ...extra, controlId: header.controlId, drafts: 0 });
    }
    return this.#decision('accepted', sink.append(drafts, receipt), acks, { ...extra, controlId: header.controlId, drafts: drafts.length });
  }

  #acks(header: MessageHeader | undefined, d: Delimiters | undefined, verdict: Verdict, errors: readonly AckError[]): string[] {
    const build = (code: AckCode): string =>
      buildAck({
        request: header,
        delimiters: d,
        code,
        errors,
        application: this.#config.application ?? this.#deps.gatewayId,
        controlId: this.#nextControlId(),
        now: new Date(this.#deps.clock.now()),
      });
    if (!header?.enhanced) return [build(ACK_CODES.original[verdict])];
    const acks: string[] = [];
    if (wanted(header.acceptAck, verdict)) acks.push(build(ACK_CODES.accept[verdict]));
    if (wanted(header.applicationAck, verdict)) acks.push(build(ACK_CODES.application[verdict]));
    return acks;
  }

  #nextControlId(): string {
    this.#ackCounter += 1;
    return `${this.#config.name}-${this.#deps.clock.now().toString(36)}-${this.#ackCounter}`.slice(0, 199);
  }

  #deadLetter(deviceId: string, peer: string, bytes: Buffer, size: number, reason: string, receivedAt: string): EventDraft {
    const kept = bytes.subarray(0, this.#config.deadLetterBytes);
    return {
      type: 'dead-letter',
      deviceId,
      sourceTime: null,
      receivedAt,
      input: this.#config.name,
      source: peer,
      reason,
      payloadBase64: kept.toString('base64'),
      payloadBytes: size,
      truncated: kept.length < size,
    };
  }

  #decision(outcome: Outcome, committed: Promise<void>, acks: string[], extra: Partial<Decision>): Decision {
    // MSA is the second segment of every ACK we build; its first field is the code.
    const ackCodes = acks.map((a) => a.split('\r')[1]?.slice(4, 6) as AckCode);
    return { outcome, committed, acks, ackCodes, unknownUnits: [], ignoredObservations: 0, drafts: 0, ...extra };
  }
}

/**
 * How to read a message's bytes: MSH-18 names the character set. ISO 8859-1 (`8859/1`, as some PCD-01 senders
 * declare) is Latin-1; everything else (`UNICODE UTF-8`, ASCII, empty) is read as UTF-8, of which ASCII is a part.
 */
function charsetOf(bytes: Buffer): 'latin1' | 'utf8' {
  const msh = firstSegment(bytes);
  const separator = msh.charAt(3) || '|';
  const field18 = (msh.split(separator)[17] ?? '').split(msh.charAt(5) || '~')[0]?.trim().toUpperCase() ?? '';
  return field18 === '8859/1' || field18 === 'ISO IR100' ? 'latin1' : 'utf8';
}

/** The first segment of a frame (for reading MSH of a message that does not parse as a whole). */
function firstSegment(bytes: Buffer): string {
  const text = bytes.subarray(0, 4096).toString('utf8');
  const end = text.search(/[\r\n]/);
  return end < 0 ? text : text.slice(0, end);
}

function tryParse(text: string): Hl7Message | undefined {
  try {
    return parseHl7(text);
  } catch {
    return undefined;
  }
}
