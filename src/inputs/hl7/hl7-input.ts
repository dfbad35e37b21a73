/**
 * HL7 v2 over MLLP input (IHE PCD-01 / PCD-04): a listener that many senders (monitors, central stations, device
 * gateways) connect to, or a client that connects out to a sender serving MLLP. Each connection is an
 * MllpSession: frames are handed to the buffer as they arrive and every ACK waits for the group commit holding
 * its message, so messages from all connections share commits (one fsync for many monitors) and an ACK is never
 * sent for anything not durable. Resends are recognised through the buffer's receipt ledger (source
 * `hl7:<name>`, key MSH-3 + MSH-4 + MSH-10), acknowledged again without a second event; receipts older than
 * `duplicates.window` are purged. See src/inputs/hl7/README.md.
 */
import { createServer as createTcpServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { errorMessage, type ErrorCode } from '../../errors.js';
import { tlsConnectionOptions } from '../../security/tls.js';
import { Backoff } from '../../util/backoff.js';
import type { Logger } from '../../util/logger.js';
import type { Input, InputConnection, InputDeps, InputMetric } from '../input.js';
import { addressAllowed, parseCidr, type Cidr, type Hl7InputConfigT, type MllpServerTlsT } from './config.js';
import { loadHl7Driver } from './driver.js';
import { compileHl7Driver } from './mapping.js';
import { Hl7Processor, type Decision, type Outcome } from './processor.js';
import { MllpSession } from './session.js';

interface Connection {
  socket: Socket;
  session: MllpSession;
  peer: string;
}

/** Receipts are purged this often (at most; a short window purges more often). */
const PURGE_EVERY_MS = 60_000;
/** A listener whose port is taken is tried again this often. */
const LISTEN_RETRY_MS = 5000;
/** How long stop() lets a connection finish closing before destroying it. */
const CLOSE_GRACE_MS = 2000;
/** The same warning (same code and reason) is logged at most this often. */
const WARN_EVERY_MS = 60_000;

export class Hl7Input implements Input {
  readonly name: string;
  readonly #config: Hl7InputConfigT;
  readonly #deps: InputDeps;
  readonly #log: Logger;
  readonly #allow: Cidr[];
  #processor: Hl7Processor | undefined;
  #server: Server | undefined;
  #address: { host: string; port: number } | undefined;
  readonly #connections = new Set<Connection>();
  #stopping = false;
  #purgeTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Connect mode: waits between attempts to reach the sender (connect.reconnect, jittered). */
  readonly #reconnect: Backoff | undefined;
  readonly #warned = new Map<string, number>();
  readonly #outcomes: Record<Outcome, number> = { accepted: 0, resend: 0, error: 0, refused: 0, ignored: 0, garbage: 0 };
  readonly #acks = new Map<string, number>();
  #connectionsTotal = 0;
  #connectionsRefused = 0;
  #commitFailures = 0;
  #unknownUnits = 0;
  #ignoredObservations = 0;
  #framerTotals = { frames: 0, garbageBytes: 0, oversize: 0 };

  constructor(config: Hl7InputConfigT, deps: InputDeps) {
    this.name = config.name;
    this.#config = config;
    this.#deps = deps;
    this.#log = deps.logger.child({ input: config.name });
    this.#allow = (config.listen?.allow ?? []).flatMap((a) => parseCidr(a) ?? []);
    const reconnect = config.connect?.reconnect;
    this.#reconnect = reconnect && new Backoff({ initialMs: reconnect.initial, maxMs: reconnect.max, jitter: 'equal' });
  }

  /** Where the listener is bound (port 0 in the config picks a free one); undefined until it listens. */
  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  get outcomes(): Readonly<Record<Outcome, number>> {
    return { ...this.#outcomes };
  }

  async start(): Promise<void> {
    const { driver } = loadHl7Driver(this.#config.driver, this.#deps);
    this.#processor = new Hl7Processor(this.#config, compileHl7Driver(driver), this.#deps);
    this.#purgeReceipts();
    this.#purgeTimer = setInterval(() => this.#purgeReceipts(), Math.max(1000, Math.min(PURGE_EVERY_MS, this.#config.duplicates.window / 10)));
    this.#purgeTimer.unref();
    if (this.#config.listen) await this.#listen();
    else this.#connect();
  }

  #purgeReceipts(): void {
    try {
      const purged = this.#deps.receipts.purge(`hl7:${this.name}`, this.#deps.clock.now() - this.#config.duplicates.window);
      if (purged > 0) this.#log.debug({ purged }, 'hl7 receipts past the duplicates window purged');
    } catch (err) {
      this.#log.warn({ code: 'GW_BUFFER_WRITE', err: errorMessage(err) }, 'hl7 receipts could not be purged; retried later');
    }
  }

  // ---- listener ----

  async #listen(): Promise<void> {
    const listen = this.#config.listen;
    if (!listen) return;
    // Half-open allowed: a sender that sends and then shuts its side down (socat, nc -N) still gets its ACKs.
    const server = listen.tls
      ? createTlsServer({ ...serverTlsOptions(listen.tls, `inputs.${this.name}.listen.tls`), allowHalfOpen: true })
      : createTcpServer({ allowHalfOpen: true });
    this.#server = server;
    // The raw TCP connection, before any TLS handshake: the allow-list and the connection limit apply here.
    server.on('connection', (socket: Socket) => {
      if (!this.#admit(socket)) return;
      if (!listen.tls) this.#accept(socket);
    });
    if (listen.tls) {
      server.on('secureConnection', (socket: TLSSocket) => this.#accept(socket));
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
        this.#warn('GW_HL7_TLS', `tls ${errorMessage(err)}`, { peer: describePeer(socket), err: errorMessage(err) }, 'hl7 TLS handshake failed; connection closed (check the sender certificate and listen.tls.ca)');
      });
    }
    await new Promise<void>((resolve) => {
      const attempt = (): void => {
        const onError = (err: NodeJS.ErrnoException): void => {
          server.off('listening', onListening);
          this.#warn('GW_HL7_LISTEN', `listen ${err.code ?? err.message}`, { host: listen.host, port: listen.port, err: errorMessage(err) }, `hl7 listener cannot bind ${listen.host}:${listen.port}; retrying every ${LISTEN_RETRY_MS / 1000} s`);
          if (this.#stopping) return resolve();
          this.#retryTimer = setTimeout(attempt, LISTEN_RETRY_MS);
          // start() does not wait for a port that is taken: the gateway runs its other inputs meanwhile.
          resolve();
        };
        const onListening = (): void => {
          server.off('error', onError);
          const address = server.address();
          if (address && typeof address === 'object') this.#address = { host: address.address, port: address.port };
          this.#log.info({ host: listen.host, port: this.#address?.port, tls: listen.tls !== undefined, allow: listen.allow }, 'hl7 listening');
          resolve();
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen({ host: listen.host, port: listen.port });
      };
      attempt();
    });
    server.on('error', (err) => this.#log.error({ code: 'GW_HL7_LISTEN', err: errorMessage(err) }, 'hl7 listener error'));
  }

  #admit(socket: Socket): boolean {
    const peer = describePeer(socket);
    const listen = this.#config.listen;
    let refusal: string | undefined;
    if (this.#stopping) refusal = 'the input is stopping';
    else if (!addressAllowed(socket.remoteAddress ?? '', this.#allow)) refusal = `${socket.remoteAddress ?? '?'} is not in listen.allow`;
    else if (this.#connections.size >= (listen?.maxConnections ?? Infinity)) refusal = `listen.maxConnections (${listen?.maxConnections ?? 0}) reached`;
    if (refusal === undefined) return true;
    this.#connectionsRefused += 1;
    this.#warn('GW_HL7_REFUSED', refusal, { peer }, `hl7 connection refused: ${refusal}`);
    socket.destroy();
    return false;
  }

  // ---- client mode ----

  #connect(): void {
    const connect = this.#config.connect;
    if (!connect || this.#stopping) return;
    const where = `${connect.host}:${connect.port}`;
    const socket = connect.tls
      ? tlsConnect({ host: connect.host, port: connect.port, ...tlsConnectionOptions(connect.tls, `inputs.${this.name}.connect.tls`) })
      : tcpConnect({ host: connect.host, port: connect.port, allowHalfOpen: true });
    let opened = false;
    socket.once(connect.tls ? 'secureConnect' : 'connect', () => {
      opened = true;
      this.#reconnect?.reset();
      this.#log.info({ sender: where, tls: connect.tls !== undefined }, 'hl7 connected to the sender');
      this.#accept(socket);
    });
    socket.on('error', (err) => {
      if (!opened) {
        const code: ErrorCode = connect.tls && /certificate|self[- ]signed|handshake|alert|ssl/i.test(errorMessage(err)) ? 'GW_HL7_TLS' : 'GW_HL7_CONNECT';
        this.#warn(code, `connect ${errorMessage(err)}`, { sender: where, err: errorMessage(err) }, `hl7 cannot connect to the sender ${where}; retrying with backoff`);
      }
    });
    socket.once('close', () => {
      if (this.#stopping) return;
      this.#retryTimer = setTimeout(() => this.#connect(), this.#reconnect?.next() ?? connect.reconnect.initial);
    });
  }

  // ---- connections (both modes) ----

  #accept(socket: Socket): void {
    const processor = this.#processor;
    if (!processor) {
      socket.destroy();
      return;
    }
    const peer = describePeer(socket);
    socket.setNoDelay(true); // an ACK is one small write: Nagle + delayed ACK would add ~40 ms to every message
    socket.setKeepAlive(true, 30_000);
    const session = new MllpSession(processor, {
      peer,
      maxFrameBytes: this.#config.maxFrameBytes,
      keepBytes: Math.max(this.#config.deadLetterBytes, 1),
      write: (frame) => {
        if (!socket.destroyed) socket.write(frame);
      },
      fail: (err) => {
        this.#commitFailures += 1;
        this.#log.error({ code: 'GW_BUFFER_WRITE', peer, err: errorMessage(err) }, 'hl7 message could not be committed; dropping the connection without ACK so the sender resends');
        socket.destroy();
      },
      observe: (d) => this.#observe(d, peer),
      pause: () => socket.pause(),
      resume: () => {
        if (!this.#stopping) socket.resume();
      },
    });
    const connection: Connection = { socket, session, peer };
    this.#connections.add(connection);
    this.#connectionsTotal += 1;
    this.#log.info({ peer, connections: this.#connections.size }, 'hl7 connection');
    socket.on('data', (chunk: Buffer) => {
      if (this.#stopping) return;
      session.push(chunk);
      this.#commitWhenAllWait();
    });
    socket.on('end', () => {
      session.end();
      // Half-close from the sender: answer what is pending, then close our side.
      void session.idle().then(() => socket.end());
    });
    socket.on('error', (err) => this.#log.debug({ peer, err: errorMessage(err) }, 'hl7 connection error'));
    socket.once('close', () => {
      session.end();
      this.#connections.delete(connection);
      const s = session.framerStats;
      this.#framerTotals.frames += s.frames;
      this.#framerTotals.garbageBytes += s.garbageBytes;
      this.#framerTotals.oversize += s.oversize;
      this.#log.info({ peer, frames: s.frames, connections: this.#connections.size }, 'hl7 connection closed');
    });
  }

  /**
   * PCD-01 senders wait for each ACK before they send the next message: once every connection has a message waiting
   * for its commit, nothing more can arrive to share it, and lingering (buffer.commitLinger) would only add latency.
   * Commit now then. Senders that pipeline keep sharing commits per read; the linger still covers the rest.
   */
  #commitWhenAllWait(): void {
    for (const c of this.#connections) if (c.session.pending === 0) return;
    this.#deps.sink.flush();
  }

  #observe(d: Decision, peer: string): void {
    this.#outcomes[d.outcome] += 1;
    this.#ignoredObservations += d.ignoredObservations;
    for (const code of d.ackCodes) this.#acks.set(code, (this.#acks.get(code) ?? 0) + 1);
    if (d.unknownUnits.length > 0) {
      this.#unknownUnits += d.unknownUnits.length;
      for (const unit of d.unknownUnits) {
        this.#warn('GW_DECODE_FAILED', `unit ${unit}`, { unit, peer }, 'hl7 unit not in the driver\'s unit table: kept verbatim, reading quality uncertain (add it to the driver\'s units)');
      }
    }
    if (d.outcome === 'refused') this.#warn('GW_HL7_REJECTED', d.reason ?? 'refused', { peer, controlId: d.controlId, reason: d.reason }, 'hl7 message refused');
    else if (d.outcome === 'error' || d.outcome === 'garbage') {
      this.#warn('GW_DECODE_FAILED', d.reason ?? d.outcome, { peer, controlId: d.controlId, reason: d.reason }, 'hl7 bytes sent to the dead-letter topic');
    } else if (d.outcome === 'resend') this.#log.debug({ peer, controlId: d.controlId }, 'hl7 resend of a committed message acknowledged again');
    if (d.reusedControlId) {
      this.#warn('GW_HL7_CONTROL_ID_REUSED', `reused ${d.controlId ?? ''}`, { peer, controlId: d.controlId }, 'hl7 control id came again with other content: stored as a new message (does the sender reuse MSH-10 after a restart?)');
    }
  }

  /** A warning logged at most once a minute per code and reason (a broken sender must not flood the journal). */
  #warn(code: ErrorCode, reason: string, fields: Record<string, unknown>, msg: string): void {
    const key = `${code} ${reason}`;
    const now = this.#deps.clock.now();
    const last = this.#warned.get(key);
    if (last !== undefined && now - last < WARN_EVERY_MS) return;
    if (this.#warned.size > 1000) this.#warned.clear();
    this.#warned.set(key, now);
    this.#log.warn({ code, ...fields }, msg);
  }

  metrics(): InputMetric[] {
    const live = [...this.#connections].reduce(
      (t, c) => ({ frames: t.frames + c.session.framerStats.frames, garbageBytes: t.garbageBytes + c.session.framerStats.garbageBytes, pending: t.pending + c.session.pending }),
      { frames: 0, garbageBytes: 0, pending: 0 },
    );
    const counter = (name: string, help: string, value: number, labels?: Record<string, string>): InputMetric => ({ name, help, type: 'counter', value, ...(labels ? { labels } : {}) });
    return [
      { name: 'hl7_listening', help: '1 while the MLLP listener is bound (listen mode) or connected to the sender (connect mode)', type: 'gauge', value: this.#config.listen ? (this.#address ? 1 : 0) : this.#connections.size > 0 ? 1 : 0 },
      { name: 'hl7_connections', help: 'Open MLLP connections', type: 'gauge', value: this.#connections.size },
      counter('hl7_connections_total', 'MLLP connections accepted or made', this.#connectionsTotal),
      counter('hl7_connections_refused_total', 'Connections closed at once (not in listen.allow, maxConnections, stopping)', this.#connectionsRefused),
      counter('hl7_frames_total', 'MLLP frames received', this.#framerTotals.frames + live.frames),
      counter('hl7_garbage_bytes_total', 'Bytes outside MLLP frames or in unfinished frames (dead-lettered)', this.#framerTotals.garbageBytes + live.garbageBytes),
      ...(Object.keys(this.#outcomes) as Outcome[]).map((outcome) => counter('hl7_messages_total', 'Frames by outcome: accepted, resend (acknowledged again), error (AE/CE, dead letter), refused (AR/CR), ignored (ACKs), garbage', this.#outcomes[outcome], { outcome })),
      ...[...this.#acks].map(([code, n]) => counter('hl7_acks_total', 'ACK messages sent, by MSA-1 code', n, { code })),
      { name: 'hl7_acks_awaiting_commit', help: 'Answers waiting for their group commit', type: 'gauge', value: live.pending },
      counter('hl7_unknown_units_total', 'Observations whose OBX-6 unit is not in the driver (kept verbatim, quality uncertain)', this.#unknownUnits),
      counter('hl7_ignored_observations_total', 'OBX not turned into readings (other value types, ignored codes, skipped result status)', this.#ignoredObservations),
      counter('hl7_commit_failures_total', 'Connections dropped because a commit failed (the sender resends)', this.#commitFailures),
    ];
  }

  connection(): InputConnection {
    const open = this.#connections.size;
    const connections = `${open} connection${open === 1 ? '' : 's'}`;
    const listen = this.#config.listen;
    if (listen) {
      const tls = listen.tls ? ' (TLS)' : '';
      if (this.#address) return { state: 'listening', endpoint: `mllp ${hostPort(this.#address.host, this.#address.port)}${tls}`, detail: connections };
      return { state: 'disconnected', endpoint: `mllp ${hostPort(listen.host, listen.port)}${tls}`, detail: 'cannot bind the port; retrying' };
    }
    const connect = this.#config.connect;
    const endpoint = connect ? `mllp ${hostPort(connect.host, connect.port)}${connect.tls ? ' (TLS)' : ''}` : 'mllp';
    return open > 0 ? { state: 'connected', endpoint, detail: connections } : { state: 'connecting', endpoint, detail: 'connecting to the sender, with backoff' };
  }

  /** Stops accepting, answers what was taken (after its commit), then closes every connection. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#purgeTimer);
    clearTimeout(this.#retryTimer);
    const server = this.#server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const c of this.#connections) c.socket.pause();
    this.#deps.sink.flush();
    await Promise.allSettled([...this.#connections].map((c) => c.session.idle()));
    await Promise.all(
      [...this.#connections].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.socket.destroyed) return resolve();
            const timer = setTimeout(() => c.socket.destroy(), CLOSE_GRACE_MS);
            c.socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            c.socket.end();
          }),
      ),
    );
    await closed;
    this.#server = undefined;
    this.#address = undefined;
  }
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function describePeer(socket: Socket): string {
  const address = socket.remoteAddress ?? '?';
  return `mllp ${address.includes(':') ? `[${address}]` : address}:${socket.remotePort ?? '?'}`;
}

function serverTlsOptions(tls: MllpServerTlsT, where: string): Parameters<typeof createTlsServer>[0] {
  const read = (field: 'cert' | 'key' | 'ca' | 'passphrase'): string | undefined => tls[field]?.revealFor(`${where}.${field}`);
  const ca = read('ca');
  const passphrase = read('passphrase');
  return {
    cert: read('cert'),
    key: read('key'),
    ...(ca === undefined ? {} : { ca }),
    ...(passphrase === undefined ? {} : { passphrase }),
    requestCert: tls.verifyClient,
    rejectUnauthorized: tls.verifyClient,
  };
}
