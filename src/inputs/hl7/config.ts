/** Configuration of the HL7 input family (one `inputs[]` entry with `type: hl7`: an MLLP listener or client). */
import { isIP } from 'node:net';
import { z } from 'zod';
import { Duration, SecretRef, identifier } from '../../config/primitives.js';
import { isLoopbackHost } from '../../observability/config.js';
import { TlsClientConfig } from '../../security/tls.js';
import { isKnownTimeZone } from '../../util/time-zone.js';

const pem = (what: string) => SecretRef.describe(`${what}, PEM: {file: PATH}, {credential: NAME} (systemd LoadCredential=) or {env: NAME}`);

export const MllpServerTls = z
  .object({
    cert: pem('Server certificate (chain) the senders verify'),
    key: pem('Private key of the server certificate'),
    passphrase: SecretRef.optional().describe('Passphrase of an encrypted private key'),
    ca: pem('CA certificate(s) client certificates must chain to (with verifyClient)').optional(),
    verifyClient: z
      .boolean()
      .default(false)
      .describe('Require a client certificate signed by ca from every sender (mutual TLS); a sender without one is refused'),
  })
  .strict()
  .superRefine((tls, ctx) => {
    if (tls.verifyClient && tls.ca === undefined) {
      ctx.addIssue({ code: 'custom', path: ['ca'], message: 'verifyClient needs ca: the CA that signed the senders\' client certificates' });
    }
  });

/** An address (IPv4/IPv6) or a CIDR block like 10.1.0.0/16. */
const AddressOrCidr = z.string().refine((v) => parseCidr(v) !== undefined, 'expected an IP address or a CIDR block like 10.20.0.0/16 or fd00::/8');

export const MllpListen = z
  .object({
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe('Address to listen on; anything but loopback needs tls (MLLP carries patient data) or allowInsecure'),
    port: z.number().int().min(0).max(65_535).describe('TCP port (2575 is the registered HL7 port; 0: any free port, logged)'),
    tls: MllpServerTls.optional().describe('MLLP over TLS'),
    allowInsecure: z
      .boolean()
      .default(false)
      .describe('Accept a listener off loopback without TLS (e.g. a segregated device VLAN); check-config and run refuse it otherwise'),
    allow: z
      .array(AddressOrCidr)
      .default([])
      .describe('Source addresses (or CIDR blocks) allowed to connect; empty: any. Others are closed at once and logged'),
    maxConnections: z.number().int().min(1).max(10_000).default(64).describe('Concurrent sender connections; more are refused'),
  })
  .strict()
  .superRefine((listen, ctx) => {
    if (!isLoopbackHost(listen.host) && listen.tls === undefined && !listen.allowInsecure) {
      ctx.addIssue({
        code: 'custom',
        path: ['host'],
        message: `"${listen.host}" is not a loopback address: set listen.tls (cert, key) or, on a network that is protected otherwise, listen.allowInsecure: true`,
      });
    }
  });

export const MllpConnect = z
  .object({
    host: z.string().min(1).describe('The sender that serves MLLP (a device gateway in server mode)'),
    port: z.number().int().min(1).max(65_535),
    tls: TlsClientConfig.optional().describe('MLLP over TLS to the sender'),
    reconnect: z
      .object({
        initial: Duration.default(1000).describe('First wait before reconnecting, doubled after each failure (each wait jittered to 50-100 % of it)'),
        max: Duration.default(30_000),
      })
      .strict()
      .default({ initial: 1000, max: 30_000 }),
  })
  .strict();

export const Hl7InputConfig = z
  .object({
    type: z.literal('hl7'),
    name: identifier.describe('Unique input name (logs, dead letters, the receipt ledger source hl7:<name>)'),
    listen: MllpListen.optional().describe('Listen for senders (monitors, central stations, device gateways connect to us)'),
    connect: MllpConnect.optional().describe('Or connect out to a sender that serves MLLP'),
    driver: z.string().min(1).default('ihe-pcd01').describe('HL7 driver file (devices/<name>.yaml, kind: hl7): codes, units, result status, alarms'),
    deviceId: z
      .string()
      .min(1)
      .default('{device}')
      .describe(
        'Device id template: {device} (OBX-18 equipment id, else MSH-3), {equipment}, {sender} (MSH-3), {facility} (MSH-4), {mds} (first OBX-4 level), {hierarchy} (OBX-4), {bed} (PV1-3); {patient} (PID-3) only with patientIdentifiers',
      ),
    patientIdentifiers: z
      .boolean()
      .default(false)
      .describe('Allow {patient} (PID-3 identifier) in deviceId; off: no patient identifier ever leaves the gateway'),
    timezone: z
      .string()
      .default('UTC')
      .refine(isKnownTimeZone, 'unknown time zone: use an IANA name like Europe/Berlin or UTC')
      .describe('Zone of HL7 times that carry no UTC offset (+hhmm)'),
    duplicates: z
      .object({
        window: Duration.default(86_400_000).describe('How long a committed message is recognised when sent again (MSH-3 + MSH-4 + MSH-10): acknowledged again, no second event'),
      })
      .strict()
      .default({ window: 86_400_000 }),
    unsupported: z
      .enum(['reject', 'dead-letter'])
      .default('reject')
      .describe('A message type the driver does not handle: reject (AR / CR, nothing stored) or dead-letter (stored raw, then AA / CA)'),
    maxFrameBytes: z.number().int().min(1024).max(16_777_216).default(1_048_576).describe('Largest message; larger frames are refused (AR / CR) and dead-lettered'),
    deadLetterBytes: z.number().int().min(0).default(4096).describe('How much of an undecodable frame the dead letter keeps'),
    application: z
      .string()
      .min(1)
      .optional()
      .describe('MSH-3 of our ACKs; default: the MSH-5 the sender addressed (receiving application), else the gateway id'),
  })
  .strict()
  .superRefine((input, ctx) => {
    if ((input.listen === undefined) === (input.connect === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['listen'], message: 'give exactly one of listen (senders connect to us) or connect (we connect to a sender that serves)' });
    }
    if (input.deviceId.includes('{patient}') && !input.patientIdentifiers) {
      ctx.addIssue({ code: 'custom', path: ['deviceId'], message: '{patient} copies a patient identifier into every event: set patientIdentifiers: true to allow it' });
    }
    const unknown = [...input.deviceId.matchAll(/\{([^}]*)\}/g)].map((m) => m[1] ?? '').filter((p) => !DEVICE_ID_PLACEHOLDERS.includes(p));
    if (unknown.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['deviceId'], message: `unknown placeholder ${unknown.map((p) => `{${p}}`).join(', ')} (use ${DEVICE_ID_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})` });
    }
    if (input.connect && input.connect.reconnect.max < input.connect.reconnect.initial) {
      ctx.addIssue({ code: 'custom', path: ['connect', 'reconnect', 'max'], message: `must be at least reconnect.initial (${input.connect.reconnect.initial} ms)` });
    }
  });

export type Hl7InputConfigT = z.infer<typeof Hl7InputConfig>;
export type MllpServerTlsT = z.infer<typeof MllpServerTls>;

export const DEVICE_ID_PLACEHOLDERS = ['device', 'equipment', 'sender', 'facility', 'mds', 'hierarchy', 'bed', 'patient'];

/** A parsed allow-list entry. */
export interface Cidr {
  family: 4 | 6;
  bits: bigint;
  prefix: number;
}

/** Parses `10.0.0.0/8`, `192.168.1.7`, `fd00::/8`, `::1`; undefined when it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefixText] = text.trim().split('/');
  const family = isIP(address);
  if (family === 0) return undefined;
  const width = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width) return undefined;
  return { family: family as 4 | 6, bits: addressBits(address, family as 4 | 6), prefix };
}

/** Whether a peer address (as Node reports it, IPv4-mapped IPv6 included) is in one of the blocks. */
export function addressAllowed(address: string, allow: readonly Cidr[]): boolean {
  if (allow.length === 0) return true;
  const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  const family = isIP(plain);
  if (family === 0) return false;
  const bits = addressBits(plain, family as 4 | 6);
  const width = family === 4 ? 32 : 128;
  return allow.some((c) => c.family === family && (c.prefix === 0 || bits >> BigInt(width - c.prefix) === c.bits >> BigInt(width - c.prefix)));
}

function addressBits(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  // Expand :: and an embedded IPv4 tail into eight 16-bit groups.
  let text = address.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = addressBits(v4[1] as string, 4);
    text = `${text.slice(0, -(v4[1] as string).length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}
