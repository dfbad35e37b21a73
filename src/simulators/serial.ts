/**
 * Serial device simulator: a pseudo-terminal pair (socat) whose device end receives what the driver's
 * `simulation` section describes, at the device's real cadence; the other end is the port to give the gateway.
 * Values are random walks unless a script sets them (e.g. a desaturation episode). Faults can be injected, and the
 * device can be unplugged (the pty disappears) and replugged (recreated at the same path).
 *
 * Programmatic use (tests, other tools):
 *   const sim = await startSerialSimulator({ driver: 'pulse-oximeter-ascii', script: [{ spo2: 97, hr: 72 }, { spo2: 85, alarm: 0x02 }] });
 *   // give sim.path to the gateway (input `port`); await sim.scriptDone; await sim.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { driverSearchPaths, loadDriverFile } from '../drivers/driver-files.js';
import { GatewayError } from '../errors.js';
import { SerialDriver, type SerialDriverT, type SimulationSpecT } from '../inputs/serial/driver.js';
import { withNmeaChecksum, writeBinaryChecksum } from '../inputs/serial/framing/checksums.js';
import type { RunningSimulator, SimulatorFactory } from './simulator.js';
import { systemClock, type Clock } from '../util/clock.js';
import { formatWallTime } from '../util/time-zone.js';
import { prng } from './random.js';

export const SERIAL_FAULTS = ['partial-first-record', 'garbage', 'bad-checksum', 'sentinels'] as const;
export type SerialFault = (typeof SERIAL_FAULTS)[number];

/** Values of one record by name (as in the driver's simulation.values); null sends the "no value" sentinel. */
export type SimulatedValues = Record<string, number | null>;

export interface SerialSimulatorOptions {
  /** Driver name (devices/NAME.yaml) or path to a driver file. */
  driver: string;
  /** Folder relative driver paths resolve against; default the working directory. */
  configDir?: string;
  faults?: readonly SerialFault[];
  /**
   * Values of consecutive records (packets for packet drivers), one entry each; names not given keep their
   * previous value. After the script the last values repeat (the device keeps reporting); `scriptDone` resolves.
   */
  script?: readonly SimulatedValues[];
  /** Where the port for the gateway appears (a symlink to the pty); default a fresh temp folder. */
  linkPath?: string;
  /** Overrides the driver's cadence (records or packets a second). */
  recordsPerSecond?: number;
  /** IANA zone of the simulated device clock (text templates' dates); default UTC. */
  timezone?: string;
  /** Seed of the random walk and garbage; same seed, same bytes. */
  seed?: number;
  /**
   * Start plugged in but quiet, until setSilent(false). Opening a serial port discards what arrived before it
   * was opened (serialport flushes the input queue), so a test that needs the reader to see the very first record
   * (partial-first-record) starts silent and lets the device talk once the reader reports the port open.
   */
  silent?: boolean;
  /** The simulated device's clock (record times, cadence, the pty deadline); default the system clock. */
  clock?: Clock;
}

export interface SerialSimulator extends RunningSimulator {
  /** The port to give the gateway (stays the same across unplug/replug). */
  readonly path: string;
  readonly driver: SerialDriverT;
  /** Records (packets) written so far. */
  readonly recordsSent: number;
  /** Bytes the pty did not take because nobody read the other end (a real device does not wait either). */
  readonly droppedBytes: number;
  /** Resolves when every scripted record was written (at once when there is no script). */
  readonly scriptDone: Promise<void>;
  /** The values of the last record written. */
  readonly lastValues: Readonly<SimulatedValues>;
  /**
   * Plays a script from the next record on (e.g. once the gateway reported the device online); resolves when its
   * last record was written. Afterwards its last values repeat.
   */
  play(script: readonly SimulatedValues[]): Promise<void>;
  /** The device stays plugged in but stops sending (true) or sends again (false); records are not queued meanwhile. */
  setSilent(silent: boolean): void;
  /** The device is unplugged: the pty pair goes away (the gateway's port disappears). */
  unplug(): Promise<void>;
  /** The device is plugged in again: a new pty pair at the same path; writing resumes. */
  replug(): Promise<void>;
}

/** Fills `{name}`, `{name:03}`, `{name:05.2}`, `{name:.1}`, `{name:x04}` and `{date:FORMAT}` placeholders. */
export function fillTemplate(template: string, values: SimulatedValues, sentinelText: string, nowMs: number, zone: string): string {
  return template.replace(/\{([A-Za-z0-9_-]+)(?::([^}]*))?\}/g, (_, name: string, format: string | undefined) => {
    if (name === 'date') return formatWallTime(nowMs, format ?? 'YYYY-MM-DD HH:mm:ss', zone);
    const value = values[name];
    if (value === null || value === undefined) return sentinelText;
    if (format === undefined || format === '') return String(value);
    const hex = /^x(0?)(\d*)$/.exec(format);
    if (hex) return Math.round(value).toString(16).toUpperCase().padStart(Number(hex[2] || 0), hex[1] ? '0' : ' ');
    const m = /^(0?)(\d*)(?:\.(\d+))?$/.exec(format);
    if (!m) return String(value);
    const text = m[3] === undefined ? String(Math.round(value)) : value.toFixed(Number(m[3]));
    const width = Number(m[2] || 0);
    if (m[1] !== '0') return text.padStart(width, ' ');
    return value < 0 ? `-${text.slice(1).padStart(width - 1, '0')}` : text.padStart(width, '0');
  });
}

/** Builds the bytes of one record (text line or binary frames) from values; pure, for the simulator and tests. */
export class SerialRecordEncoder {
  readonly #driver: SerialDriverT;
  readonly #sim: SimulationSpecT;
  readonly #zone: string;
  #template = 0;

  constructor(driver: SerialDriverT, zone = 'UTC') {
    if (!driver.simulation) throw new GatewayError('GW_USAGE', `driver ${driver.name} has no simulation section`);
    if (driver.framing.type !== 'lines' && driver.framing.type !== 'fixed') {
      throw new GatewayError('GW_USAGE', `the serial simulator writes lines and fixed frames; driver ${driver.name} uses ${driver.framing.type} framing`);
    }
    this.#driver = driver;
    this.#sim = driver.simulation;
    this.#zone = zone;
  }

  /** The record as chunks written one after the other at the device's cadence (frames of a packet, or one line). */
  encode(values: SimulatedValues, nowMs: number, options: { badChecksum?: boolean } = {}): Buffer[] {
    return this.#driver.framing.type === 'lines' ? [this.#line(values, nowMs, options.badChecksum ?? false)] : this.#frames(values, options.badChecksum ?? false);
  }

  #line(values: SimulatedValues, nowMs: number, badChecksum: boolean): Buffer {
    const templates = this.#sim.text ?? [];
    const template = templates[this.#template % Math.max(1, templates.length)] ?? '';
    this.#template += 1;
    let text = fillTemplate(template, values, this.#sim.sentinelText, nowMs, this.#zone);
    if (this.#driver.checksum?.type === 'nmea-xor') {
      text = withNmeaChecksum(text);
      if (badChecksum) text = text.slice(0, -2) + ((parseInt(text.slice(-2), 16) ^ 0x5a) & 0xff).toString(16).padStart(2, '0').toUpperCase();
    } else if (badChecksum) {
      // No checksum on this protocol: a corrupted byte in the middle makes the record unparsable instead.
      const at = Math.floor(text.length / 2);
      text = `${text.slice(0, at)}\u00ff${text.slice(at + 1)}`;
    }
    const ending = { crlf: '\r\n', lf: '\n', cr: '\r' }[this.#sim.lineEnding];
    return Buffer.from(text + ending, 'latin1');
  }

  #frames(values: SimulatedValues, badChecksum: boolean): Buffer[] {
    const framing = this.#driver.framing;
    if (framing.type !== 'fixed') return [];
    const frameCount = this.#driver.packet?.frames ?? 1;
    const frames = Array.from({ length: frameCount }, (_, i) => {
      const template = (i === 0 ? (this.#sim.firstFrame ?? this.#sim.frame) : this.#sim.frame) ?? [];
      const frame = Buffer.alloc(framing.length);
      template.forEach((b, j) => {
        if (j < frame.length) frame[j] = b;
      });
      return frame;
    });
    const record = this.#driver.records[0];
    for (const field of record?.fields ?? []) {
      const valueName = this.#sim.fields[field.metric];
      const value = valueName === undefined ? 0 : values[valueName];
      const raw = value === null || value === undefined ? (this.#sim.sentinels[field.metric] ?? 0) : Math.round((value - field.offset) / field.scale);
      for (const part of field.parts ?? []) {
        const frame = frames[part.frame];
        if (!frame || part.byte >= frame.length) continue;
        frame[part.byte] = ((frame[part.byte] ?? 0) & ~part.mask) | ((raw >>> part.shift) & part.mask);
      }
    }
    for (const frame of frames) if (this.#driver.checksum) writeBinaryChecksum(this.#driver.checksum, frame);
    if (badChecksum) {
      const victim = frames[Math.min(3, frames.length - 1)];
      if (victim) victim[victim.length - 1] = ((victim[victim.length - 1] ?? 0) ^ 0x5a) & 0xff;
    }
    return frames;
  }
}

/** Next values: scripted ones when given, else each value's random walk within its bounds. */
class ValueSource {
  readonly #sim: SimulationSpecT;
  readonly #random: () => number;
  #script: readonly SimulatedValues[];
  #current: SimulatedValues;
  #index = 0;

  constructor(sim: SimulationSpecT, script: readonly SimulatedValues[], random: () => number) {
    this.#sim = sim;
    this.#random = random;
    this.#script = script;
    this.#current = Object.fromEntries(Object.entries(sim.values).map(([k, v]) => [k, v.start]));
  }

  get scriptFinished(): boolean {
    return this.#index >= this.#script.length;
  }

  /** Replaces the script; it starts with the next record. */
  setScript(script: readonly SimulatedValues[]): void {
    this.#script = script;
    this.#index = 0;
  }

  next(): SimulatedValues {
    if (this.#script.length > 0) {
      const step = this.#script[Math.min(this.#index, this.#script.length - 1)] ?? {};
      this.#index += 1;
      this.#current = { ...this.#current, ...step };
      return { ...this.#current };
    }
    for (const [name, spec] of Object.entries(this.#sim.values)) {
      const previous = this.#current[name] ?? spec.start;
      if (previous === null) continue;
      const moved = previous + Math.round((this.#random() * 2 - 1) * 1000) / 1000 * spec.step;
      const bounded = Math.min(spec.max, Math.max(spec.min, moved));
      this.#current[name] = Number(bounded.toFixed(spec.decimals));
    }
    return { ...this.#current };
  }
}

/** A socat pseudo-terminal pair: `device` is written by the simulator, `port` is opened by the gateway. */
class PtyPair {
  readonly device: string;
  readonly port: string;
  readonly #clock: Clock;
  #socat: ChildProcess | undefined;
  #fd: number | undefined;

  constructor(device: string, port: string, clock: Clock) {
    this.device = device;
    this.port = port;
    this.#clock = clock;
  }

  async open(): Promise<void> {
    const socat = spawn('socat', [`pty,raw,echo=0,link=${this.device}`, `pty,raw,echo=0,link=${this.port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#socat = socat;
    let stderr = '';
    socat.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const failed = new Promise<never>((_, reject) => {
      socat.once('error', (err) => reject(new GatewayError('GW_USAGE', `cannot start socat (apt-get install socat): ${err.message}`)));
      socat.once('exit', (code) => reject(new GatewayError('GW_USAGE', `socat exited (${String(code)}) before the pty pair was ready: ${stderr.trim()}`)));
    });
    failed.catch(() => undefined);
    const deadline = this.#clock.now() + 10_000;
    while (!(existsSync(this.device) && existsSync(this.port))) {
      if (this.#clock.now() > deadline) throw new GatewayError('GW_USAGE', `socat did not create ${this.device} and ${this.port} within 10 s: ${stderr.trim()}`);
      await Promise.race([new Promise((r) => setTimeout(r, 10)), failed]);
    }
    // Non-blocking: like a real device, the simulator does not wait for a reader; what does not fit is dropped.
    this.#fd = openSync(this.device, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  }

  /** Writes bytes; returns how many were dropped because nobody reads the other end. */
  write(bytes: Buffer): number {
    if (this.#fd === undefined) return bytes.length;
    try {
      return bytes.length - writeSync(this.#fd, bytes);
    } catch {
      return bytes.length; // EAGAIN (the pty is full) or EIO (closing)
    }
  }

  async close(): Promise<void> {
    if (this.#fd !== undefined) {
      try {
        closeSync(this.#fd);
      } catch {
        // already gone
      }
      this.#fd = undefined;
    }
    const socat = this.#socat;
    this.#socat = undefined;
    if (socat && socat.exitCode === null && socat.signalCode === null) {
      const exited = new Promise((resolve) => socat.once('exit', resolve));
      socat.kill('SIGTERM');
      await exited;
    }
    // socat removes its links on a clean exit; make sure they are gone (the "USB device" disappeared).
    for (const link of [this.device, this.port]) rmSync(link, { force: true });
  }
}

export async function startSerialSimulator(options: SerialSimulatorOptions): Promise<SerialSimulator> {
  const configDir = options.configDir ?? process.cwd();
  const { driver } = loadDriverFile(options.driver, SerialDriver, driverSearchPaths(configDir), configDir);
  const sim = driver.simulation;
  if (!sim) throw new GatewayError('GW_USAGE', `driver ${driver.name} has no simulation section`);
  const faults = new Set(options.faults ?? []);
  for (const f of faults) {
    if (!SERIAL_FAULTS.includes(f)) throw new GatewayError('GW_USAGE', `unknown serial fault "${String(f)}"; use ${SERIAL_FAULTS.join(', ')}`);
  }
  const clock = options.clock ?? systemClock;
  const zone = options.timezone ?? 'UTC';
  const encoder = new SerialRecordEncoder(driver, zone);
  const random = prng(options.seed ?? 0x5eed);
  const values = new ValueSource(sim, options.script ?? [], random);
  const port = options.linkPath ?? join(mkdtempSync(join(tmpdir(), 'etg-serial-')), 'ttySIM0');
  const pty = new PtyPair(join(dirname(port), `.${port.split('/').pop() ?? 'tty'}-device`), port, clock);
  await pty.open();

  const periodMs = 1000 / (options.recordsPerSecond ?? sim.recordsPerSecond);
  let recordsSent = 0;
  let droppedBytes = 0;
  let lastValues: SimulatedValues = {};
  let plugged = true;
  let silent = options.silent ?? false;
  let stopped = false;
  let resolveScript: () => void = () => undefined;
  const scriptDone = new Promise<void>((resolve) => (resolveScript = resolve));
  if (values.scriptFinished) resolveScript();
  let resolvePlay: (() => void) | undefined;

  /** Chunks waiting for their tick (frames of a packet go out spread over the packet period). */
  let queue: Buffer[] = [];
  let chunkPeriod = periodMs;
  const started = clock.now();
  let ticks = 0;
  let timer: NodeJS.Timeout | undefined;

  const nextRecord = (): void => {
    const index = recordsSent;
    const v = values.next();
    const withSentinels = faults.has('sentinels') && index % 4 === 3 ? Object.fromEntries(Object.keys(v).map((k) => [k, null])) : v;
    const chunks = encoder.encode(withSentinels, clock.now(), { badChecksum: faults.has('bad-checksum') && index % 7 === 5 });
    if (index === 0 && faults.has('partial-first-record')) {
      // The gateway "opens the port" in the middle of a record: drop its first bytes. Only a reader that has the
      // port open when it is written sees it (see the `silent` option).
      const first = Buffer.concat(chunks);
      chunks.splice(0, chunks.length, first.subarray(Math.ceil(first.length / 2) + 1));
    }
    if (faults.has('garbage') && index % 5 === 2) {
      const garbage = Buffer.from(Array.from({ length: 3 + Math.floor(random() * 12) }, () => Math.floor(random() * 256)));
      chunks.push(garbage);
    }
    lastValues = v;
    recordsSent += 1;
    if (values.scriptFinished) {
      resolveScript();
      resolvePlay?.();
      resolvePlay = undefined;
    }
    chunkPeriod = periodMs / Math.max(1, chunks.length);
    queue = chunks;
  };

  const tick = (): void => {
    if (stopped) return;
    if (queue.length === 0 && !silent) nextRecord();
    const chunk = queue.shift();
    if (chunk && plugged) droppedBytes += pty.write(chunk);
    ticks += 1;
    // Scheduled against the start time so the cadence does not drift with timer latency.
    const due = started + ticks * chunkPeriod;
    timer = setTimeout(tick, Math.max(0, due - clock.now()));
  };
  timer = setTimeout(tick, 0);

  const describeLine = (): string => {
    const l = driver.line;
    const settings = `${l.baudRate} ${l.dataBits}${l.parity[0]?.toUpperCase() ?? 'N'}${l.stopBits}`;
    const rate = options.recordsPerSecond ?? sim.recordsPerSecond;
    const unit = driver.packet ? `packets/s of ${driver.packet.frames} frames` : 'records/s';
    return `serial ${driver.name}: port ${port} (${settings}), ${rate} ${unit}${faults.size ? `, faults: ${[...faults].join(', ')}` : ''}`;
  };

  return {
    path: port,
    driver,
    get recordsSent() {
      return recordsSent;
    },
    get lastValues() {
      return lastValues;
    },
    get droppedBytes() {
      return droppedBytes;
    },
    scriptDone,
    describe: describeLine,
    play(script) {
      resolvePlay?.();
      values.setScript(script);
      if (script.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => (resolvePlay = resolve));
    },
    setSilent(value) {
      silent = value;
    },
    async unplug() {
      if (!plugged) return;
      plugged = false;
      await pty.close();
    },
    async replug() {
      if (plugged) return;
      await pty.open();
      plugged = true;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await pty.close();
      if (options.linkPath === undefined) rmSync(dirname(port), { recursive: true, force: true });
    },
  };
}

/** `telemetry-gateway simulate --driver NAME` for drivers of kind serial (registered in SIMULATORS). */
export const serialSimulatorFactory: SimulatorFactory = async (driver, options, context) => {
  const faults = options.faults.filter((f): f is SerialFault => (SERIAL_FAULTS as readonly string[]).includes(f));
  const unknown = options.faults.filter((f) => !(SERIAL_FAULTS as readonly string[]).includes(f));
  if (unknown.length > 0) throw new GatewayError('GW_USAGE', `unknown serial fault ${unknown.join(', ')}; use ${SERIAL_FAULTS.join(', ')}`);
  const sim = await startSerialSimulator({ driver: driver.file, configDir: context.configDir, faults, clock: context.clock });
  context.log(`give the gateway this port: ${sim.path}`);
  return sim;
};
