/**
 * One Modbus bus: one transport endpoint (TCP, serial RTU, RTU over TCP) shared by many unit ids. Requests are
 * strictly serialized in arrival order (one outstanding request at a time, as RS-485 needs and as many TCP
 * gateways in front of RS-485 expect), with an optional silence between requests, a per-request timeout,
 * retries after timeouts and after exception 6 (server busy). The connection is re-established with
 * exponential backoff; while it is down, requests fail at once (their metrics become `bad`) instead of queueing.
 */
import type { EventEmitter } from 'node:events';
import type ModbusSerial from 'modbus-serial';
import { errorMessage } from '../../errors.js';
import { Backoff } from '../../util/backoff.js';
import type { Clock } from '../../util/clock.js';
import type { Lifecycle } from '../../util/lifecycle.js';
import type { Logger } from '../../util/logger.js';
import type { ModbusTransportT } from './config.js';

/** Modbus exception codes by name (Modbus Application Protocol v1.1b3, section 7). */
export const EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'ILLEGAL_FUNCTION',
  2: 'ILLEGAL_DATA_ADDRESS',
  3: 'ILLEGAL_DATA_VALUE',
  4: 'SERVER_DEVICE_FAILURE',
  5: 'ACKNOWLEDGE',
  6: 'SERVER_DEVICE_BUSY',
  8: 'MEMORY_PARITY_ERROR',
  10: 'GATEWAY_PATH_UNAVAILABLE',
  11: 'GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND',
};

// modbus-serial is CommonJS: its class is module.exports (also exported as .default, which is what TypeScript types).
type ModbusRTUClass = (typeof ModbusSerial)['default'];
type ModbusRTU = InstanceType<ModbusRTUClass>;
let modbusRtuClass: ModbusRTUClass | undefined;

/** Loaded at the first connect, so a gateway without Modbus inputs never loads modbus-serial (and serialport). */
async function loadModbusRtu(): Promise<ModbusRTUClass> {
  modbusRtuClass ??= (await import('modbus-serial')).default.default;
  return modbusRtuClass;
}

export type RequestFailureKind = 'exception' | 'timeout' | 'disconnected' | 'invalid-response';

export class ModbusRequestError extends Error {
  readonly kind: RequestFailureKind;
  readonly exceptionCode: number | undefined;

  constructor(kind: RequestFailureKind, message: string, exceptionCode?: number) {
    super(message);
    this.name = 'ModbusRequestError';
    this.kind = kind;
    this.exceptionCode = exceptionCode;
  }
}

export function exceptionName(code: number): string {
  return EXCEPTION_NAMES[code] ?? `EXCEPTION_${code}`;
}

export interface BusOptions {
  transport: ModbusTransportT;
  timeoutMs: number;
  retries: number;
  retryOnBusy: boolean;
  interRequestDelayMs: number;
  reconnect: { initial: number; max: number };
  logger: Logger;
  /** The input's clock: when the connection state changed (the status page's "since"). */
  clock: Clock;
}

export interface ReadSpec {
  functionCode: 1 | 2 | 3 | 4;
  start: number;
  count: number;
}

interface ModbusErrorShape {
  modbusCode?: unknown;
  errno?: unknown;
  message?: unknown;
}

function classify(err: unknown, timeoutMs: number): ModbusRequestError {
  if (err instanceof ModbusRequestError) return err;
  const shape = (typeof err === 'object' && err !== null ? err : {}) as ModbusErrorShape;
  if (typeof shape.modbusCode === 'number') {
    return new ModbusRequestError('exception', `exception ${shape.modbusCode} ${exceptionName(shape.modbusCode)}`, shape.modbusCode);
  }
  if (shape.errno === 'ETIMEDOUT' || shape.message === 'Timed out') return new ModbusRequestError('timeout', `no answer within ${timeoutMs} ms`);
  if (shape.errno === 'ECONNREFUSED' || shape.message === 'Port Not Open') return new ModbusRequestError('disconnected', 'bus not connected');
  return new ModbusRequestError('invalid-response', `invalid response: ${typeof shape.message === 'string' ? shape.message : errorMessage(err)}`);
}

function describeTransport(t: ModbusTransportT): string {
  switch (t.kind) {
    case 'tcp':
      return `tcp ${t.host}:${t.port}`;
    case 'rtu':
      return `rtu ${t.path} ${t.baudRate} ${t.dataBits}${t.parity[0]?.toUpperCase() ?? 'N'}${t.stopBits}`;
    case 'rtu-over-tcp':
      return `rtu-over-tcp ${t.host}:${t.port}`;
  }
}

export { describeTransport };

export interface BusStats {
  connected: boolean;
  connects: number;
  requests: number;
  failedRequests: number;
  retries: number;
}

/** Request frames of one unit id on the bus, by outcome (every attempt counts: a retry is a request too). */
export interface UnitStats {
  /** Frames sent. */
  requests: number;
  /** Frames not answered within the timeout. */
  timeouts: number;
  /** Exception responses, by exception name (exceptionName()). */
  exceptions: Map<string, number>;
  /** Answers that could not be used (wrong length or CRC) and requests cut off by a lost connection. */
  invalidResponses: number;
  /** Attempts repeated after a timeout or busy exception. */
  retries: number;
}

/** The bus connection as the status page shows it. */
export interface BusConnection {
  state: 'connecting' | 'connected' | 'disconnected';
  /** The last connect or connection error; '' while connected. */
  lastError: string;
  /** When the state last changed (epoch ms). */
  since: number;
}

export class ModbusBus implements Lifecycle {
  readonly #options: BusOptions;
  readonly #log: Logger;
  #client: ModbusRTU | undefined;
  #state: 'idle' | 'connecting' | 'open' | 'down' | 'stopped' = 'idle';
  #connecting: Promise<void> | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  /** Waits between connect attempts (reconnect.initial doubling to reconnect.max, jittered). */
  readonly #reconnect: Backoff;
  #tail: Promise<unknown> = Promise.resolve();
  #lastError = '';
  #stateSince: number;
  readonly #stats: BusStats = { connected: false, connects: 0, requests: 0, failedRequests: 0, retries: 0 };
  readonly #units = new Map<number, UnitStats>();

  constructor(options: BusOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#reconnect = new Backoff({ initialMs: options.reconnect.initial, maxMs: options.reconnect.max, jitter: 'equal' });
    this.#stateSince = options.clock.now();
  }

  get label(): string {
    return describeTransport(this.#options.transport);
  }

  get stats(): BusStats {
    return { ...this.#stats, connected: this.#state === 'open' };
  }

  /** Figures of one unit id (zeros before its first request). */
  unitStats(unitId: number): Readonly<UnitStats> {
    return this.#units.get(unitId) ?? { requests: 0, timeouts: 0, exceptions: new Map(), invalidResponses: 0, retries: 0 };
  }

  get connection(): BusConnection {
    const state = this.#state === 'open' ? 'connected' : this.#state === 'connecting' || this.#state === 'idle' ? 'connecting' : 'disconnected';
    return { state, lastError: this.#lastError, since: this.#stateSince };
  }

  #setState(state: 'idle' | 'connecting' | 'open' | 'down' | 'stopped'): void {
    if (state !== this.#state) this.#stateSince = this.#options.clock.now();
    this.#state = state;
  }

  #unit(unitId: number): UnitStats {
    let unit = this.#units.get(unitId);
    if (!unit) {
      unit = { requests: 0, timeouts: 0, exceptions: new Map(), invalidResponses: 0, retries: 0 };
      this.#units.set(unitId, unit);
    }
    return unit;
  }

  /** Starts connecting; resolves once the first attempt succeeded or failed (a failure is retried in the background). */
  async start(): Promise<void> {
    await this.#connect();
  }

  async stop(): Promise<void> {
    this.#setState('stopped');
    clearTimeout(this.#reconnectTimer);
    // A connection attempt in flight would otherwise open a port after we closed it.
    await this.#connecting;
    await this.#tail.catch(() => undefined);
    await this.#closeClient();
  }

  /**
   * Reads one request from one unit, after every request queued before it. Rejects with ModbusRequestError.
   * `attempts` overrides the configured retries (a device known to be offline gets one attempt).
   */
  read(unitId: number, spec: ReadSpec, options: { retries?: number } = {}): Promise<(number | boolean)[]> {
    const run = this.#tail.then(() => this.#readWithRetries(unitId, spec, options.retries ?? this.#options.retries));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #readWithRetries(unitId: number, spec: ReadSpec, retries: number): Promise<(number | boolean)[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#readOnce(unitId, spec);
      } catch (err) {
        const failure = classify(err, this.#options.timeoutMs);
        const retryable = failure.kind === 'timeout' || (failure.kind === 'exception' && failure.exceptionCode === 6 && this.#options.retryOnBusy);
        if (!retryable || attempt >= retries || this.#state === 'stopped') {
          this.#stats.failedRequests += 1;
          throw failure;
        }
        this.#stats.retries += 1;
        this.#unit(unitId).retries += 1;
      }
    }
  }

  async #readOnce(unitId: number, spec: ReadSpec): Promise<(number | boolean)[]> {
    if (this.#state === 'connecting') await this.#connecting;
    const client = this.#client;
    if (this.#state !== 'open' || client === undefined || !client.isOpen) {
      throw new ModbusRequestError('disconnected', `bus not connected${this.#lastError ? ` (${this.#lastError})` : ''}`);
    }
    this.#stats.requests += 1;
    const unit = this.#unit(unitId);
    unit.requests += 1;
    client.setID(unitId);
    client.setTimeout(this.#options.timeoutMs);
    try {
      const result = await this.#send(client, spec);
      return result.data.slice(0, spec.count);
    } catch (err) {
      const failure = classify(err, this.#options.timeoutMs);
      if (failure.kind === 'timeout') unit.timeouts += 1;
      else if (failure.kind === 'exception') {
        const name = exceptionName(failure.exceptionCode ?? 0);
        unit.exceptions.set(name, (unit.exceptions.get(name) ?? 0) + 1);
      } else unit.invalidResponses += 1;
      if (failure.kind === 'disconnected' || !client.isOpen) this.#connectionLost(failure.message);
      throw failure;
    } finally {
      if (this.#options.interRequestDelayMs > 0) await new Promise((r) => setTimeout(r, this.#options.interRequestDelayMs));
    }
  }

  #send(client: ModbusRTU, spec: ReadSpec): Promise<{ data: (number | boolean)[] }> {
    switch (spec.functionCode) {
      case 1:
        return client.readCoils(spec.start, spec.count);
      case 2:
        return client.readDiscreteInputs(spec.start, spec.count);
      case 3:
        return client.readHoldingRegisters(spec.start, spec.count);
      case 4:
        return client.readInputRegisters(spec.start, spec.count);
    }
  }

  #connect(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'open') return Promise.resolve();
    if (this.#connecting) return this.#connecting;
    this.#setState('connecting');
    this.#connecting = this.#open()
      .then(() => {
        if (this.#state === 'stopped') return;
        this.#setState('open');
        this.#stats.connects += 1;
        this.#reconnect.reset();
        this.#lastError = '';
        this.#log.info({ bus: this.label }, 'modbus bus connected');
      })
      .catch((err: unknown) => {
        if (this.#state === 'stopped') return;
        this.#setState('down');
        const message = errorMessage(err);
        const retryInMs = this.#scheduleReconnect();
        if (message !== this.#lastError) {
          this.#log.warn({ code: 'GW_MODBUS_CONNECT', bus: this.label, err: message, retryInMs }, 'modbus bus cannot connect; retrying with backoff');
        }
        this.#lastError = message;
      })
      .finally(() => {
        this.#connecting = undefined;
      });
    return this.#connecting;
  }

  async #open(): Promise<void> {
    await this.#closeClient();
    const ModbusRTU = await loadModbusRtu();
    const client = new ModbusRTU();
    this.#client = client;
    const t = this.#options.transport;
    client.on('error', (err: unknown) => this.#connectionLost(errorMessage(err)));
    client.on('close', () => {
      if (this.#client === client) this.#connectionLost('connection closed');
    });
    switch (t.kind) {
      case 'tcp':
        await client.connectTCP(t.host, { port: t.port, timeout: this.#options.timeoutMs });
        break;
      case 'rtu-over-tcp':
        // modbus-serial calls raw RTU frames over a TCP socket "telnet" (its TcpRTUBuffered port speaks MBAP).
        await client.connectTelnet(t.host, { port: t.port, timeout: this.#options.timeoutMs });
        break;
      case 'rtu':
        await client.connectRTUBuffered(t.path, { baudRate: t.baudRate, dataBits: t.dataBits, parity: t.parity, stopBits: t.stopBits });
        break;
    }
  }

  #connectionLost(reason: string): void {
    if (this.#state !== 'open') return;
    this.#setState('down');
    this.#lastError = reason;
    this.#log.warn({ code: 'GW_MODBUS_CONNECT', bus: this.label, err: reason }, 'modbus bus connection lost; reconnecting');
    this.#reconnect.reset();
    this.#scheduleReconnect();
  }

  /** Arms the next connect attempt unless one is armed already (or the bus stopped); returns its wait. */
  #scheduleReconnect(): number | undefined {
    if (this.#state === 'stopped' || this.#reconnectTimer !== undefined) return undefined;
    const delay = this.#reconnect.next();
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#connect();
    }, delay);
    return delay;
  }

  async #closeClient(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client === undefined) return;
    // The client is an EventEmitter at runtime; its typings only declare on().
    const emitter = client as unknown as EventEmitter;
    emitter.removeAllListeners('close');
    emitter.removeAllListeners('error');
    // A client whose connect failed may have no port to close; close() then throws synchronously.
    await new Promise<void>((resolve) => {
      try {
        if (client.isOpen) client.close(() => resolve());
        else resolve();
      } catch {
        resolve();
      }
    });
    // Errors after close (late socket errors) must not crash the process.
    client.on('error', () => undefined);
  }
}
