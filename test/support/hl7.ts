/**
 * HL7 test helpers: fixture files (test/cases/hl7/<name>/input.txt) as MLLP bytes, a plain MLLP sender over TCP or
 * TLS that collects the ACKs, and reading ACK fields.
 *
 * Fixture format: the bytes as a sender writes them, readable: `<VT>` is the start block 0x0B, `<FS>` 0x1C and
 * `<CR>` 0x0D; every line end is a CR (the HL7 segment terminator), so a message is its segments one per line
 * between `<VT>` and `<FS><CR>`. Whatever stands between frames is sent as it is (garbage tests).
 */
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { MllpFramer } from '../../src/inputs/hl7/mllp.js';
import { waitFor } from './wait.js';

export function fixtureBytes(text: string): Buffer {
  return Buffer.from(text.replace(/\r?\n/g, '\r').replaceAll('<VT>', '\x0b').replaceAll('<FS>', '\x1c').replaceAll('<CR>', '\r'), 'utf8');
}

export function fixtureFile(path: string): Buffer {
  return fixtureBytes(readFileSync(path, 'utf8'));
}

/** An ACK's segments (split at CR) and fields (split at |). */
export function ackFields(ack: string): string[][] {
  return ack.split('\r').map((s) => s.split('|'));
}

/** MSA-1 and MSA-2 of an ACK. */
export function msa(ack: string): { code: string; controlId: string } {
  const segment = ackFields(ack).find((f) => f[0] === 'MSA') ?? [];
  return { code: segment[1] ?? '', controlId: segment[2] ?? '' };
}

/** A sender on one connection: writes bytes, collects every ACK frame that comes back. */
export class MllpTestClient {
  readonly acks: string[] = [];
  readonly socket: Socket;
  readonly #framer = new MllpFramer({ maxFrameBytes: 1 << 20, keepBytes: 64 });
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const item of this.#framer.push(chunk)) if (item.kind === 'frame') this.acks.push(item.payload.toString('utf8'));
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(port: number, tls?: ConnectionOptions, host = '127.0.0.1'): Promise<MllpTestClient> {
    return new Promise((resolve, reject) => {
      const socket = tls ? tlsConnect({ host, port, ...tls }) : tcpConnect({ host, port });
      socket.once(tls ? 'secureConnect' : 'connect', () => resolve(new MllpTestClient(socket)));
      socket.once('error', reject);
    });
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  async waitForAcks(n: number, timeoutMs = 30_000): Promise<string[]> {
    await waitFor(`${n} ACKs (have ${this.acks.length})`, () => this.acks.length >= n, { timeoutMs, intervalMs: 10 });
    return this.acks.slice(0, n);
  }

  close(): void {
    this.socket.destroy();
  }
}
