/**
 * What the gateway reads from MSH before anything else: who sent the message, which message it is (the resend
 * key), its type and version, and which acknowledgments the sender asked for (original or enhanced mode).
 */
import { createHash } from 'node:crypto';
import type { Hl7Message } from './parser.js';

export type AckKind = 'AL' | 'NE' | 'ER' | 'SU';

export interface MessageHeader {
  /** MSH-3 and MSH-4 as sent (components joined), the sender's identity in the resend key. */
  sendingApplication: string;
  sendingFacility: string;
  /** MSH-3.1 namespace id, else MSH-3.2 universal id (an EUI-64 in PCD-01). */
  sender: string;
  facility: string;
  /** MSH-3 to MSH-6 as written (escapes kept), to address the ACK. */
  rawSendingApplication: string;
  rawSendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-7 raw (an HL7 DTM). */
  time: string;
  /** MSH-9.1 and MSH-9.2: ORU, R01. */
  messageType: string;
  trigger: string;
  /** MSH-10, the message control id; '' when missing. */
  controlId: string;
  /** MSH-11.1 (P, T, D). */
  processingId: string;
  /** MSH-12.1, e.g. 2.6. */
  version: string;
  /**
   * Enhanced mode when MSH-15 or MSH-16 is valued: accept ACK (CA/CE/CR) per MSH-15, application ACK (AA/AE/AR)
   * per MSH-16. Original mode otherwise: one ACK (AA/AE/AR).
   */
  enhanced: boolean;
  acceptAck: AckKind;
  applicationAck: AckKind;
}

const ACK_KINDS = new Set(['AL', 'NE', 'ER', 'SU']);

function ackKind(value: string, fallback: AckKind): AckKind {
  return ACK_KINDS.has(value) ? (value as AckKind) : fallback;
}

export function readHeader(msg: Hl7Message): MessageHeader {
  const msh = msg.header;
  const accept = msg.text(msh, 15);
  const application = msg.text(msh, 16);
  const enhanced = accept !== '' || application !== '';
  return {
    sendingApplication: msg.text(msh, 3),
    sendingFacility: msg.text(msh, 4),
    sender: msg.text(msh, 3, 1) || msg.text(msh, 3, 2),
    facility: msg.text(msh, 4, 1) || msg.text(msh, 4, 2),
    rawSendingApplication: msg.raw(msh, 3),
    rawSendingFacility: msg.raw(msh, 4),
    receivingApplication: msg.raw(msh, 5),
    receivingFacility: msg.raw(msh, 6),
    time: msg.text(msh, 7, 1),
    messageType: msg.text(msh, 9, 1),
    trigger: msg.text(msh, 9, 2),
    controlId: msg.text(msh, 10),
    processingId: msg.text(msh, 11, 1),
    version: msg.text(msh, 12, 1),
    enhanced,
    // HL7 names no default for an empty MSH-15 next to a valued MSH-16; a sender waiting for an accept ACK would
    // time out and resend forever, one that does not expect it discards it: AL.
    acceptAck: enhanced ? ackKind(accept, 'AL') : 'AL',
    applicationAck: enhanced ? ackKind(application, 'NE') : 'NE',
  };
}

/** The resend key: sending application + facility + control id (what a sender keeps when it sends again). */
export function receiptKey(header: MessageHeader): string {
  return `${header.sendingApplication}|${header.sendingFacility}|${header.controlId}`;
}

/**
 * Fingerprint of the message content: every segment except MSH-7 (some senders stamp the time again when they
 * resend). A control id that comes back with another digest is a new message (a sender that restarted its
 * counter), not a resend.
 */
export function contentDigest(msg: Hl7Message): string {
  const hash = createHash('sha256');
  msg.segments.forEach((segment) => {
    const fields = segment.index === 0 ? segment.fields.map((f, i) => (i === 7 ? '' : f)) : segment.fields;
    hash.update(fields.join('\u0001')).update('\u0000');
  });
  return hash.digest('base64url').slice(0, 32);
}
