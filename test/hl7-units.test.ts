// Pure parts of the HL7 input: the HL7 v2 parser (delimiters, escapes, repetitions, components, subcomponents),
// the MLLP framer (chunking, resync, limits), ACK building, HL7 times, the allow-list and the config rules.
import { describe, expect, it } from 'vitest';
import { Hl7InputConfig, addressAllowed, parseCidr } from '../src/inputs/hl7/config.js';
import { buildAck, hl7Time } from '../src/inputs/hl7/ack.js';
import { contentDigest, readHeader, receiptKey } from '../src/inputs/hl7/header.js';
import { parseHl7Time } from '../src/inputs/hl7/mapping.js';
import { MllpFramer, mllpFrame, type MllpItem } from '../src/inputs/hl7/mllp.js';
import { Hl7ParseError, escapeHl7, parseHl7, unescapeHl7, DEFAULT_DELIMITERS } from '../src/inputs/hl7/parser.js';

const MESSAGE = [
  'MSH|^~\\&|MON^0123456789ABCDEF^EUI-64|WARD|CIS|HOSP|20261127103000+0100||ORU^R01^ORU_R01|C-1|P|2.6|||AL|NE',
  'PID|||12345^^^HOSP^MR~98765^^^NAT^NI||Doe^John',
  'NTE|1||pipe \\F\\ caret \\S\\ amp \\T\\ tilde \\R\\ backslash \\E\\ hex \\X4142\\ \\H\\bold\\N\\ line\\.br\\two \\Cxxyy\\ \\E',
  'OBX|1|ST|a&b&c^second||x~y~z',
].join('\r');

describe('HL7 v2 parser', () => {
  it('reads fields, repetitions, components and subcomponents with HL7 numbering; MSH-1/MSH-2 are not split', () => {
    const msg = parseHl7(MESSAGE);
    const msh = msg.header;
    expect(msg.text(msh, 1)).toBe('|');
    expect(msg.text(msh, 2)).toBe('^~\\&');
    expect(msg.text(msh, 3)).toBe('MON^0123456789ABCDEF^EUI-64');
    expect(msg.text(msh, 3, 2)).toBe('0123456789ABCDEF');
    expect(msg.text(msh, 9, 2)).toBe('R01');
    expect(msg.text(msh, 10)).toBe('C-1');
    const pid = msg.segment('PID');
    expect(msg.repetitions(pid, 3)).toHaveLength(2);
    expect(msg.text(pid, 3, 1, 0, 2)).toBe('98765');
    expect(msg.text(pid, 3, 5, 0, 2)).toBe('NI');
    expect(msg.text(pid, 3, 5, 0, 3)).toBe('');
    const obx = msg.segment('OBX');
    expect([1, 2, 3, 4].map((s) => msg.text(obx, 3, 1, s))).toEqual(['a', 'b', 'c', '']);
    expect(msg.text(obx, 3, 2)).toBe('second');
    expect(msg.repetitions(obx, 5)).toEqual(['x', 'y', 'z']);
    expect(msg.text(obx, 99)).toBe('');
    expect(msg.text(undefined, 1)).toBe('');
  });

  it('decodes \\F\\ \\S\\ \\T\\ \\R\\ \\E\\, hex and line breaks, drops highlighting, keeps what it does not know', () => {
    const msg = parseHl7(MESSAGE);
    expect(msg.text(msg.segment('NTE'), 3)).toBe('pipe | caret ^ amp & tilde ~ backslash \\ hex AB bold line\ntwo \\Cxxyy\\ \\E');
  });

  it('honours the delimiters a message declares', () => {
    const msg = parseHl7('MSH#*!@%#SENDER*X##\rOBX#1#NM#150456*MDC_PULS_OXIM_SAT_O2*MDC##97!98#escaped @F@ @S@');
    const obx = msg.segment('OBX');
    expect(msg.delimiters).toEqual({ field: '#', component: '*', repetition: '!', escape: '@', subcomponent: '%' });
    expect(msg.text(msg.header, 3, 2)).toBe('X');
    expect(msg.text(obx, 3, 2)).toBe('MDC_PULS_OXIM_SAT_O2');
    expect(msg.repetitions(obx, 5)).toEqual(['97', '98']);
    expect(msg.text(obx, 6)).toBe('escaped # *');
    expect(unescapeHl7('@E@', msg.delimiters)).toBe('@');
  });

  it('accepts CR, LF and CRLF segment ends and skips empty lines', () => {
    for (const end of ['\r', '\n', '\r\n']) {
      const msg = parseHl7(['MSH|^~\\&|A', '', 'OBX|1|NM|x||1', ''].join(end));
      expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'OBX']);
    }
  });

  it('refuses what is not a message, naming what is wrong', () => {
    expect(() => parseHl7('hello')).toThrow(Hl7ParseError);
    expect(() => parseHl7('PID|1\rMSH|^~\\&|A')).toThrow(/must start with MSH/);
    expect(() => parseHl7('MSH|^~')).toThrow(/too short/);
    expect(() => parseHl7('MSH|^^\\&|A')).toThrow(/unusable delimiters/);
    expect(() => parseHl7('MSH|^~\\&|A\robx|1')).toThrow(/segment 2 has no valid name/);
  });

  it('escapes what it writes so that it reads back the same', () => {
    const text = 'a|b^c&d~e\\f\rline';
    const encoded = escapeHl7(text);
    expect(encoded).toBe('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\line');
    expect(unescapeHl7(encoded, DEFAULT_DELIMITERS)).toBe('a|b^c&d~e\\f\nline');
  });
});

describe('MSH header, resend key and digest', () => {
  it('reads the ACK modes: original without MSH-15/16, enhanced otherwise', () => {
    const original = readHeader(parseHl7('MSH|^~\\&|A|F|||20260101||ORU^R01|1|P|2.5'));
    expect(original).toMatchObject({ enhanced: false, messageType: 'ORU', trigger: 'R01', controlId: '1', version: '2.5', sender: 'A', facility: 'F' });
    expect(readHeader(parseHl7('MSH|^~\\&|A||||20260101||ORU^R01|1|P|2.6|||AL|NE'))).toMatchObject({ enhanced: true, acceptAck: 'AL', applicationAck: 'NE' });
    expect(readHeader(parseHl7('MSH|^~\\&|A||||20260101||ORU^R01|1|P|2.6|||NE|AL'))).toMatchObject({ enhanced: true, acceptAck: 'NE', applicationAck: 'AL' });
    expect(readHeader(parseHl7('MSH|^~\\&|^0A1B^EUI-64||||2026||ORU^R01|1|P|2.6')).sender).toBe('0A1B');
  });

  it('keys resends by MSH-3 + MSH-4 + MSH-10 and ignores a re-stamped MSH-7 in the digest', () => {
    const a = parseHl7('MSH|^~\\&|MON|W|||20260101120000||ORU^R01|7|P|2.6\rOBX|1|NM|x||1');
    const again = parseHl7('MSH|^~\\&|MON|W|||20260101120030||ORU^R01|7|P|2.6\rOBX|1|NM|x||1');
    const other = parseHl7('MSH|^~\\&|MON|W|||20260101120000||ORU^R01|7|P|2.6\rOBX|1|NM|x||2');
    expect(receiptKey(readHeader(a))).toBe('MON|W|7');
    expect(contentDigest(again)).toBe(contentDigest(a));
    expect(contentDigest(other)).not.toBe(contentDigest(a));
  });
});

describe('MLLP framer', () => {
  const frames = (items: MllpItem[]) => items.map((i) => (i.kind === 'frame' ? `frame@${i.offset}:${i.payload.toString()}` : `${i.kind}@${i.offset}`));
  const feed = (bytes: Buffer, chunk: number, max = 1024) => {
    const framer = new MllpFramer({ maxFrameBytes: max, keepBytes: 64 });
    const out: MllpItem[] = [];
    for (let i = 0; i < bytes.length; i += chunk) out.push(...framer.push(bytes.subarray(i, i + chunk)));
    out.push(...framer.end());
    return { out, framer };
  };

  it('finds several frames in one chunk and a trailer split across chunks, whatever the chunk size', () => {
    const stream = Buffer.concat([mllpFrame('MSH|1'), mllpFrame('MSH|2'), Buffer.from('\r\n'), mllpFrame('MSH|3')]);
    for (const chunk of [1, 2, 3, 7, stream.length]) {
      expect(frames(feed(stream, chunk).out), `chunk ${chunk}`).toEqual(['frame@0:MSH|1', 'frame@8:MSH|2', 'frame@18:MSH|3']);
    }
  });

  it('reports garbage between frames with its offset and resynchronizes at the next start block', () => {
    const stream = Buffer.concat([Buffer.from('junk'), mllpFrame('MSH|1'), Buffer.from('xx'), mllpFrame('MSH|2')]);
    const { out, framer } = feed(stream, 3);
    expect(frames(out)).toEqual(['garbage@0', 'frame@4:MSH|1', 'garbage@12', 'frame@14:MSH|2']);
    expect(out[0]).toMatchObject({ reason: '4 bytes outside an MLLP frame at byte offset 0 (expected the start block 0x0B)' });
    expect(framer.stats).toMatchObject({ frames: 2, garbageRuns: 2, garbageBytes: 6 });
  });

  it('reports an unfinished frame when a new start block comes or the stream ends, accepts an end without CR', () => {
    const stream = Buffer.concat([Buffer.from('\x0bMSH|cut'), Buffer.from('\x0bMSH|ok\x1c'), Buffer.from('\x0bMSH|last')]);
    const { out, framer } = feed(stream, 5);
    expect(frames(out)).toEqual(['garbage@0', 'frame@8:MSH|ok', 'garbage@16']);
    expect(out[0]).toMatchObject({ reason: expect.stringContaining('no end block') });
    expect(out[2]).toMatchObject({ reason: expect.stringContaining('connection closed inside the frame') });
    expect(framer.stats.missingCr).toBe(1);
  });

  it('skips a frame over the limit to its end, keeps its head, holds no more than the limit', () => {
    const big = `MSH|^~\\&|A||||||ORU^R01|9|P|2.6\r${'x'.repeat(5000)}`;
    const framer = new MllpFramer({ maxFrameBytes: 1024, keepBytes: 64 });
    const out: MllpItem[] = [];
    const stream = Buffer.concat([mllpFrame(big), mllpFrame('MSH|after')]);
    let maxHeld = 0;
    for (let i = 0; i < stream.length; i += 100) {
      out.push(...framer.push(stream.subarray(i, i + 100)));
      maxHeld = Math.max(maxHeld, framer.heldBytes);
    }
    expect(out.map((i) => i.kind)).toEqual(['oversize', 'frame']);
    expect(out[0]).toMatchObject({ size: Buffer.byteLength(big), offset: 0 });
    expect((out[0] as { head: Buffer }).head.toString().startsWith('MSH|^~\\&|A')).toBe(true);
    expect(maxHeld).toBeLessThanOrEqual(1024 + 100);
  });
});

describe('ACKs', () => {
  const request = readHeader(parseHl7('MSH|^~\\&|MON^0A1B^EUI-64|W|CIS^X|HOSP|20260101||ORU^R01^ORU_R01|M-1|P|2.6|||AL|NE'));
  it('answers as the addressed application to the sender, echoes version and processing id, never asks for an ACK back', () => {
    const ack = buildAck({ request, delimiters: undefined, code: 'CA', errors: [], application: 'gw', controlId: 'gw-1', now: new Date('2026-11-27T10:00:00.123Z') });
    expect(ack).toBe('MSH|^~\\&|CIS^X|HOSP|MON^0A1B^EUI-64|W|20261127100000.123+0000||ACK^R01^ACK|gw-1|P|2.6|||NE|NE\rMSA|CA|M-1');
  });

  it('writes ERR per problem: ERR-2..8 from 2.5, ERR-1 before; escapes the text', () => {
    const errors = [{ code: 102 as const, severity: 'W' as const, text: 'OBX 7: value "a|b" is not NM', location: 'OBX^7^5' }];
    const v26 = buildAck({ request, delimiters: undefined, code: 'AA', errors, application: 'gw', controlId: 'gw-2', now: new Date(0) });
    expect(v26.split('\r')[2]).toBe('ERR||OBX^7^5|102^Data type error^HL70357|W||||OBX 7: value "a\\F\\b" is not NM');
    const old = readHeader(parseHl7('MSH|^~\\&|MON|W|||2026||ORU^R01|M-2|P|2.3'));
    const v23 = buildAck({ request: old, delimiters: undefined, code: 'AE', errors: [{ ...errors[0]!, severity: 'E' }], application: 'gw', controlId: 'gw-3', now: new Date(0) });
    expect(v23.split('\r')).toEqual(['MSH|^~\\&|gw||MON|W|19700101000000.000+0000||ACK^R01|gw-3|P|2.3', 'MSA|AE|M-2|OBX 7: value "a\\F\\b" is not NM', 'ERR|OBX^7^5^102&Data type error&HL70357']);
  });

  it('formats HL7 times in UTC with an explicit offset', () => {
    expect(hl7Time(new Date('2026-03-01T04:05:06.007Z'))).toBe('20260301040506.007+0000');
  });
});

describe('HL7 times', () => {
  it('honours the UTC offset, reads times without one in the zone, accepts every precision', () => {
    expect(parseHl7Time('20261127103000+0100', 'UTC')).toBe('2026-11-27T09:30:00.000Z');
    expect(parseHl7Time('20261127103000.5-0530', 'UTC')).toBe('2026-11-27T16:00:00.500Z');
    expect(parseHl7Time('20261127103000.1234', 'UTC')).toBe('2026-11-27T10:30:00.123Z');
    expect(parseHl7Time('20260715103000', 'Europe/Berlin')).toBe('2026-07-15T08:30:00.000Z');
    expect(parseHl7Time('202611271030', 'UTC')).toBe('2026-11-27T10:30:00.000Z');
    expect(parseHl7Time('2026', 'UTC')).toBe('2026-01-01T00:00:00.000Z');
  });

  it('reads times at DST changes by the one zoned-time policy (src/util/time-zone.ts)', () => {
    // Repeated hour (clocks back): the earlier instant, 02:30 CEST.
    expect(parseHl7Time('20261025023000', 'Europe/Berlin')).toBe('2026-10-25T00:30:00.000Z');
    // Skipped hour (clocks forward): the offset from before the change, 02:30 CET.
    expect(parseHl7Time('20260329023000', 'Europe/Berlin')).toBe('2026-03-29T01:30:00.000Z');
  });

  it('rejects what is no time', () => {
    for (const bad of ['', '2026113', '20260231120000', '20261127250000', '20261127235960', '20261127103000+2500', 'yesterday', '20261127103000Z']) {
      expect(parseHl7Time(bad, 'UTC'), bad).toBeUndefined();
    }
  });
});

describe('allow-list', () => {
  it('matches IPv4 and IPv6 addresses and blocks, IPv4-mapped IPv6 included; empty allows all', () => {
    const allow = ['10.20.0.0/16', '192.168.1.7', 'fd00::/8'].map((c) => parseCidr(c)!);
    expect(addressAllowed('10.20.3.4', allow)).toBe(true);
    expect(addressAllowed('::ffff:10.20.3.4', allow)).toBe(true);
    expect(addressAllowed('10.21.0.1', allow)).toBe(false);
    expect(addressAllowed('192.168.1.7', allow)).toBe(true);
    expect(addressAllowed('192.168.1.8', allow)).toBe(false);
    expect(addressAllowed('fd12:3456::1', allow)).toBe(true);
    expect(addressAllowed('fe80::1', allow)).toBe(false);
    expect(addressAllowed('anything', [])).toBe(true);
    expect(addressAllowed('127.0.0.1', [parseCidr('0.0.0.0/0')!])).toBe(true);
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('example.org')).toBeUndefined();
  });
});

describe('HL7 input config', () => {
  const issues = (input: unknown) => {
    const r = Hl7InputConfig.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('defaults to a loopback listener, the ihe-pcd01 driver, {device} ids, 24 h resend window', () => {
    const c = Hl7InputConfig.parse({ type: 'hl7', name: 'icu', listen: { port: 2575 } });
    expect(c).toMatchObject({ listen: { host: '127.0.0.1', maxConnections: 64, allow: [] }, driver: 'ihe-pcd01', deviceId: '{device}', duplicates: { window: 86_400_000 }, unsupported: 'reject', patientIdentifiers: false });
  });

  it('refuses a listener off loopback without TLS unless allowed, and explains what to do', () => {
    expect(issues({ type: 'hl7', name: 'icu', listen: { host: '0.0.0.0', port: 2575 } })).toEqual([
      'listen.host: "0.0.0.0" is not a loopback address: set listen.tls (cert, key) or, on a network that is protected otherwise, listen.allowInsecure: true',
    ]);
    expect(issues({ type: 'hl7', name: 'icu', listen: { host: '0.0.0.0', port: 2575, allowInsecure: true } })).toEqual([]);
    expect(issues({ type: 'hl7', name: 'icu', listen: { host: '0.0.0.0', port: 2575, tls: { cert: { file: '/c' }, key: { file: '/k' } } } })).toEqual([]);
    expect(issues({ type: 'hl7', name: 'icu', listen: { port: 1, tls: { cert: { file: '/c' }, key: { file: '/k' }, verifyClient: true } } })).toEqual([
      'listen.tls.ca: verifyClient needs ca: the CA that signed the senders\' client certificates',
    ]);
  });

  it('needs exactly one of listen and connect, known placeholders, and patientIdentifiers for {patient}', () => {
    expect(issues({ type: 'hl7', name: 'x' })).toEqual(['listen: give exactly one of listen (senders connect to us) or connect (we connect to a sender that serves)']);
    expect(issues({ type: 'hl7', name: 'x', listen: { port: 1 }, connect: { host: 'a', port: 1 } })).toHaveLength(1);
    expect(issues({ type: 'hl7', name: 'x', listen: { port: 1 }, deviceId: '{patient}' })).toEqual([
      'deviceId: {patient} copies a patient identifier into every event: set patientIdentifiers: true to allow it',
    ]);
    expect(issues({ type: 'hl7', name: 'x', listen: { port: 1 }, deviceId: '{patient}', patientIdentifiers: true })).toEqual([]);
    expect(issues({ type: 'hl7', name: 'x', listen: { port: 1 }, deviceId: '{room}' })[0]).toMatch(/^deviceId: unknown placeholder \{room\}/);
    expect(issues({ type: 'hl7', name: 'x', listen: { port: 1, allow: ['10.0.0.0/8', 'ward-3'] } })[0]).toMatch(/^listen.allow.1: expected an IP address or a CIDR block/);
  });
});

describe('HL7 processor details', () => {
  it('reads MSH-18 8859/1 messages as Latin-1 and maps ST values where the driver says type: string', async () => {
    const { Hl7Processor } = await import('../src/inputs/hl7/processor.js');
    const { Hl7Driver } = await import('../src/inputs/hl7/driver.js');
    const { compileHl7Driver } = await import('../src/inputs/hl7/mapping.js');
    const driver = Hl7Driver.parse({ kind: 'hl7', name: 'notes', messages: { 'ORU^R01': 'observations' }, observations: { codes: [{ refid: 'NOTE', metric: 'note', type: 'string' }], resultStatus: { F: 'good' } } });
    const drafts: unknown[] = [];
    const processor = new Hl7Processor(Hl7InputConfig.parse({ type: 'hl7', name: 'x', listen: { port: 0 } }), compileHl7Driver(driver), {
      sink: { append: (d) => (drafts.push(...d), Promise.resolve()), flush: () => undefined },
      receipts: { find: () => undefined, latestNumber: () => 0, purge: () => 0 },
      clock: { now: () => 0 },
      gatewayId: 'g',
    });
    const text = 'MSH|^~\\&|MON|W|||20260101||ORU^R01|L-1|P|2.6|||AL|NE||8859/1\rOBX|1|ST|1^NOTE^LOCAL||Müller \\T\\ Söhne||||||F';
    const decision = processor.handle({ kind: 'frame', payload: Buffer.from(text, 'latin1'), offset: 0 }, 'mllp test');
    await decision.committed;
    expect(decision.ackCodes).toEqual(['CA']);
    expect(drafts).toMatchObject([{ type: 'reading', metric: 'note', value: 'Müller & Söhne', unit: null, quality: 'good', code: 'NOTE' }]);
  });
});
