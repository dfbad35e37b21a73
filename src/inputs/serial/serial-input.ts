/**
 * Serial input: one device on one port. Opens the port with the driver's line settings (the input config may
 * override each), feeds every chunk to the decoder and hands the drafts to the buffer. When the port disappears
 * (USB unplugged, pty closed) the device goes `offline`, whatever incomplete record was held is dead-lettered
 * (never half-decoded), and the port is reopened with backoff (at most `reopen.max` apart) until it is back:
 * then `online` again, no restart. Bytes of a serial device cannot be asked for again, so a failed commit is
 * logged as lost data.
 */
import type { SerialPort } from 'serialport';
import { loadDriverFile } from '../../drivers/driver-files.js';
import { errorMessage } from '../../errors.js';
import type { EventDraft } from '../../events/schema.js';
import { Backoff } from '../../util/backoff.js';
import type { Logger } from '../../util/logger.js';
import type { Input, InputConnection, InputDeps, InputMetric } from '../input.js';
import type { SerialInputConfigT } from './config.js';
import { SerialDecoder } from './decoder.js';
import { SerialDriver, type LineSettingsT, type SerialDriverT } from './driver.js';

type DeviceStatus = 'online' | 'degraded' | 'offline' | 'error';

/** The line settings in force: the driver's, overridden by the input config. */
export function effectiveLineSettings(driver: SerialDriverT, config: SerialInputConfigT): LineSettingsT {
  return {
    baudRate: config.baudRate ?? driver.line.baudRate,
    dataBits: config.dataBits ?? driver.line.dataBits,
    parity: config.parity ?? driver.line.parity,
    stopBits: config.stopBits ?? driver.line.stopBits,
    flowControl: config.flowControl ?? driver.line.flowControl,
  };
}

/** The driver with every framing length capped by the input's maxFrameBytes (bounds memory per port). */
export function capFraming(driver: SerialDriverT, maxFrameBytes: number): SerialDriverT {
  const f = driver.framing;
  if (f.type === 'fixed') return driver;
  return { ...driver, framing: { ...f, maxLength: Math.min(f.maxLength, maxFrameBytes) } };
}

/**
 * serialport (its native binding and a dozen parsers, ~10 MB resident) is loaded by the first serial input that
 * starts, so that gateways without one do not carry it (#14: load only the modules the config uses).
 */
let serialPortClass: typeof SerialPort | undefined;

export class SerialInput implements Input {
  readonly name: string;
  readonly #config: SerialInputConfigT;
  readonly #deps: InputDeps;
  readonly #log: Logger;
  #decoder: SerialDecoder | undefined;
  #port: SerialPort | undefined;
  #status: DeviceStatus | 'unknown' = 'unknown';
  #stopping = false;
  /** Waits between reopen attempts (reopen.initial doubling to reopen.max, jittered). */
  readonly #reopen: Backoff;
  #reopenTimer: NodeJS.Timeout | undefined;
  #silenceTimer: NodeJS.Timeout | undefined;
  #lastDataAt = 0;
  #opens = 0;
  #closes = 0;
  #line: LineSettingsT | undefined;
  /** Why the port is not open ('' while it is), and since when it is open or not. */
  #portProblem = '';
  #portSince = 0;
  #commitFailures = 0;
  readonly #unsettled = new Set<Promise<void>>();

  constructor(config: SerialInputConfigT, deps: InputDeps) {
    this.name = config.name;
    this.#config = config;
    this.#deps = deps;
    this.#log = deps.logger.child({ input: config.name, port: config.port });
    this.#reopen = new Backoff({ initialMs: config.reopen.initial, maxMs: config.reopen.max, jitter: 'equal' });
  }

  /** Loads the driver and starts opening the port; resolves at once (a missing port is retried in the background). */
  async start(): Promise<void> {
    serialPortClass ??= (await import('serialport')).SerialPort;
    const { driver } = loadDriverFile(this.#config.driver, SerialDriver, this.#deps.driverSearchPaths, this.#deps.configDir);
    this.#decoder = new SerialDecoder(capFraming(driver, this.#config.maxFrameBytes), {
      deviceId: this.#config.deviceId,
      inputName: this.name,
      source: this.#config.port,
      timezone: this.#config.timezone,
      deadLetterBytes: this.#config.deadLetterBytes,
    });
    const line = effectiveLineSettings(driver, this.#config);
    this.#line = line;
    this.#portSince = this.#deps.clock.now();
    if (this.#config.silenceTimeout > 0) {
      this.#silenceTimer = setInterval(() => this.#checkSilence(), Math.max(100, Math.floor(this.#config.silenceTimeout / 4)));
    }
    this.#open(line);
  }

  #open(line: LineSettingsT): void {
    if (this.#stopping || !serialPortClass) return;
    const port = new serialPortClass({
      path: this.#config.port,
      baudRate: line.baudRate,
      dataBits: line.dataBits,
      parity: line.parity,
      stopBits: line.stopBits,
      rtscts: line.flowControl === 'rtscts',
      xon: line.flowControl === 'xonxoff',
      xoff: line.flowControl === 'xonxoff',
      autoOpen: false,
    });
    port.open((err) => {
      if (err) {
        this.#portProblem = `cannot open: ${err.message}`;
        this.#setStatus('offline', `cannot open ${this.#config.port}: ${err.message}`);
        this.#scheduleReopen(line);
        return;
      }
      if (this.#stopping) {
        port.close(() => undefined);
        return;
      }
      this.#port = port;
      this.#opens += 1;
      this.#portProblem = '';
      this.#portSince = this.#deps.clock.now();
      this.#reopen.reset();
      this.#lastDataAt = this.#deps.clock.now();
      this.#log.info({ line }, 'serial port open');
      this.#setStatus('online', `port ${this.#config.port} open (${describeLine(line)})`);
    });
    port.on('data', (chunk: Buffer) => this.#data(chunk));
    port.on('error', (e: Error) => this.#log.warn({ code: 'GW_SERIAL_PORT', err: e.message }, 'serial port error'));
    port.on('close', (e: (Error & { disconnected?: boolean }) | null) => {
      if (this.#port !== port) return;
      this.#port = undefined;
      this.#closes += 1;
      const now = this.#deps.clock.now();
      const drafts = this.#decoder?.drain(now) ?? [];
      if (this.#stopping) {
        this.#append(drafts);
        return;
      }
      const reason = e?.disconnected ? `port ${this.#config.port} disappeared (device unplugged?)` : `port ${this.#config.port} closed${e ? `: ${e.message}` : ''}`;
      this.#portProblem = e?.disconnected ? 'disappeared (device unplugged?)' : `closed${e ? `: ${e.message}` : ''}`;
      this.#portSince = now;
      this.#setStatus('offline', reason, drafts);
      this.#scheduleReopen(line);
    });
  }

  #scheduleReopen(line: LineSettingsT): void {
    if (this.#stopping) return;
    const delay = this.#reopen.next();
    this.#reopenTimer = setTimeout(() => {
      this.#reopenTimer = undefined;
      this.#open(line);
    }, delay);
  }

  #data(chunk: Buffer): void {
    const decoder = this.#decoder;
    if (!decoder || this.#stopping) return;
    const now = this.#deps.clock.now();
    this.#lastDataAt = now;
    const before = decoder.stats.deadLetters;
    const drafts = decoder.push(chunk, now);
    if (decoder.stats.deadLetters > before) {
      this.#log.debug({ code: 'GW_DECODE_FAILED', deadLetters: decoder.stats.deadLetters - before }, 'serial bytes sent to the dead-letter topic');
    }
    if (this.#status === 'degraded') this.#setStatus('online', 'data again', drafts);
    else this.#append(drafts);
  }

  #checkSilence(): void {
    if (!this.#port || this.#status !== 'online') return;
    const silentFor = this.#deps.clock.now() - this.#lastDataAt;
    if (silentFor >= this.#config.silenceTimeout) this.#setStatus('degraded', `no data for ${Math.round(silentFor / 100) / 10} s with the port open`);
  }

  /** Reports a status transition (with other drafts of the moment in the same append, status first). */
  #setStatus(status: DeviceStatus, reason: string, drafts: EventDraft[] = []): void {
    if (status === this.#status) {
      this.#append(drafts);
      return;
    }
    const previous = this.#status;
    this.#status = status;
    const level = status === 'online' ? 'info' : 'warn';
    this.#log[level]({ code: status === 'online' ? undefined : 'GW_SERIAL_PORT', device: this.#config.deviceId, status, previous, reason }, 'serial device status');
    const now = new Date(this.#deps.clock.now()).toISOString();
    // Drafts held by the decoder at a close belong before the offline event; at (re)open there are none.
    const statusDraft: EventDraft = { type: 'device-status', deviceId: this.#config.deviceId, sourceTime: null, receivedAt: now, status, previous, reason };
    this.#append(status === 'online' ? [statusDraft, ...drafts] : [...drafts, statusDraft]);
  }

  #append(drafts: readonly EventDraft[]): void {
    if (drafts.length === 0) return;
    const settled = this.#deps.sink.append(drafts).then(
      () => undefined,
      (err: unknown) => {
        this.#commitFailures += 1;
        this.#log.error({ code: 'GW_BUFFER_WRITE', events: drafts.length, err: errorMessage(err) }, 'could not commit serial events; they are lost (a serial device cannot resend)');
      },
    );
    this.#unsettled.add(settled);
    void settled.finally(() => this.#unsettled.delete(settled));
  }

  metrics(): InputMetric[] {
    const s = this.#decoder?.stats;
    const labels = { device: this.#config.deviceId };
    const counter = (name: string, help: string, value: number): InputMetric => ({ name, help, type: 'counter', labels, value });
    return [
      { name: 'serial_port_open', help: 'Whether the serial port is open (1) or missing/closed (0)', type: 'gauge', labels, value: this.#port ? 1 : 0 },
      counter('serial_port_opens_total', 'Times the serial port was opened (1 + replugs)', this.#opens),
      counter('serial_port_closes_total', 'Times the serial port closed or disappeared', this.#closes),
      counter('serial_port_reopens_total', 'Times the serial port was opened again after it closed or disappeared', Math.max(0, this.#opens - 1)),
      counter('serial_bytes_total', 'Bytes read from the serial port', s?.bytes ?? 0),
      counter('serial_records_total', 'Records decoded into readings', s?.records ?? 0),
      counter('serial_dead_letters_total', 'Rejected byte runs and records sent to the dead-letter topic', s?.deadLetters ?? 0),
      counter('serial_checksum_errors_total', 'Records or frames with a bad checksum', s?.checksumErrors ?? 0),
      counter('serial_ignored_records_total', 'Valid records no record type of the driver maps (e.g. NMEA GSV)', s?.ignored ?? 0),
      counter('serial_commit_failures_total', 'Appends the buffer refused (events lost)', this.#commitFailures),
    ];
  }

  devices(): readonly string[] {
    return [this.#config.deviceId];
  }

  connection(): InputConnection {
    const endpoint = this.#line ? `${this.#config.port} ${describeLine(this.#line)}` : this.#config.port;
    const reopens = Math.max(0, this.#opens - 1);
    if (this.#port) return { state: 'connected', endpoint, since: this.#portSince, detail: `port open · reopened ${reopens}×` };
    const state = this.#opens === 0 && this.#portProblem === '' ? 'connecting' : 'disconnected';
    return { state, endpoint, since: this.#portSince, detail: `${this.#portProblem || 'opening'} · retrying · reopened ${reopens}×` };
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#reopenTimer) clearTimeout(this.#reopenTimer);
    if (this.#silenceTimer) clearInterval(this.#silenceTimer);
    const port = this.#port;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    this.#port = undefined;
    this.#deps.sink.flush();
    await Promise.allSettled([...this.#unsettled]);
  }
}

export function describeLine(line: LineSettingsT): string {
  const parity = { none: 'N', even: 'E', odd: 'O', mark: 'M', space: 'S' }[line.parity];
  const flow = line.flowControl === 'none' ? 'no flow control' : line.flowControl === 'rtscts' ? 'RTS/CTS' : 'XON/XOFF';
  return `${line.baudRate} ${line.dataBits}${parity}${line.stopBits}, ${flow}`;
}
