/**
 * HL7 monitor simulator: acts as a bedside monitor (an MLLP client, as PCD-01 senders are) that sends ORU^R01
 * observations from the driver's `simulation` section at a cadence, waits for each ACK and resends the same
 * message (same MSH-10) when none comes within `ackTimeoutMs` or the connection dropped; an ORU^R40 alarm when
 * SpO2 falls below 90 % and when it recovers. With `intervalMs: 0` it sends back to back, each after the previous
 * ACK (benchmarks). Faults: `resend` (every message is sent twice, as a sender that lost our ACK would),
 * `garbage` (bytes between frames), `no-ack-wait` (sends at the cadence without waiting: many in flight),
 * `lose-ack` (one ACK in ten is ignored, as if lost on the way: the message goes again after `ackTimeoutMs`).
 *
 * Programmatic use (tests, benchmarks, the fault suite):
 *   const sim = await startHl7Simulator({ port, deviceId: 'bed-7', intervalMs: 0, count: 100 });
 *   await sim.done; sim.acked; await sim.stop();
 */
import { createHash } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { driverSearchPaths, loadDriverFile } from '../drivers/driver-files.js';
import { GatewayError } from '../errors.js';
import { hl7Time } from '../inputs/hl7/ack.js';
import { Hl7Driver, type Hl7DriverT } from '../inputs/hl7/driver.js';
import { MllpFramer, mllpFrame } from '../inputs/hl7/mllp.js';
import { escapeHl7 } from '../inputs/hl7/parser.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Lifecycle } from '../util/lifecycle.js';
import { prng } from './random.js';
import type { RunningSimulator, SimulatorFactory } from './simulator.js';

export const HL7_FAULTS = ['resend', 'garbage', 'no-ack-wait', 'lose-ack'] as const;
export type Hl7Fault = (typeof HL7_FAULTS)[number];

export interface Hl7SimulatorOptions {
  /** Driver name or path (default ihe-pcd01). */
  driver?: string;
  configDir?: string;
  host?: string;
  port: number;
  tls?: ConnectionOptions;
  /** Names the monitor: MSH-3 = SIM_MONITOR^<EUI-64 from it>^EUI-64, MSH-10 = <deviceId>-<n>. */
  deviceId?: string;
  /** Cadence (default: the driver's); 0 = back to back, each message after the previous ACK. */
  intervalMs?: number;
  /** Stop after this many messages (default: run until stopped). */
  count?: number;
  /** Resend the same message after this long without ACK (default 10 s). */
  ackTimeoutMs?: number;
  /** Enhanced mode (MSH-15 AL, MSH-16 NE, as PCD-01): expects CA; false: original mode, expects AA. */
  enhanced?: boolean;
  /** First message number (MSH-10 suffix); default from the clock, so a restarted simulator uses new ids. */
  firstNumber?: number;
  faults?: readonly Hl7Fault[];
  /** Send ORU^R40 when SpO2 crosses 90 % (default true); off where every message must carry observations. */
  alarms?: boolean;
  seed?: number;
  log?: (line: string) => void;
  /** The monitor's clock (message times, the first message number); default the system clock. */
  clock?: Clock;
}

export interface Hl7Simulator extends RunningSimulator {
  /** Messages sent at least once. */
  readonly sent: number;
  /** Control ids whose positive ACK (AA/CA) arrived, with the time from first send to that ACK (ms). */
  readonly acked: ReadonlyMap<string, number>;
  /** Control ids answered with AE/AR/CE/CR, with the code. */
  readonly rejected: ReadonlyMap<string, string>;
  /** Times a message was sent again (ACK timeout, lost connection, the resend fault). */
  readonly resends: number;
  readonly connects: number;
  /** Resolves when `count` messages were sent and answered (never without count). */
  readonly done: Promise<void>;
}

/** 16 hex digits for an EUI-64 from any device name (a name already in that form is kept). */
export function euiOf(deviceId: string): string {
  if (/^[0-9A-Fa-f]{16}$/.test(deviceId)) return deviceId.toUpperCase();
  return createHash('sha256').update(deviceId).digest('hex').slice(0, 16).toUpperCase();
}

interface Pending {
  controlId: string;
  frame: Buffer;
  firstSentAt: number;
  timer: NodeJS.Timeout | undefined;
}

class MonitorSimulator implements Hl7Simulator, Lifecycle {
  readonly #options: Hl7SimulatorOptions;
  readonly #driver: Hl7DriverT;
  readonly #random: () => number;
  readonly #values = new Map<string, number>();
  readonly #eui: string;
  readonly #deviceId: string;
  readonly #clock: Clock;
  #number: number;
  #socket: Socket | undefined;
  #stopped = false;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #cadenceTimer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Map<string, Pending>();
  #alarmActive = false;
  #sent = 0;
  #resends = 0;
  #connects = 0;
  readonly acked = new Map<string, number>();
  readonly rejected = new Map<string, string>();
  readonly done: Promise<void>;
  #resolveDone: () => void = () => undefined;

  constructor(driver: Hl7DriverT, options: Hl7SimulatorOptions) {
    this.#driver = driver;
    this.#options = options;
    this.#random = prng(options.seed ?? 0x5eed);
    this.#deviceId = options.deviceId ?? 'sim-monitor-1';
    this.#eui = euiOf(this.#deviceId);
    this.#clock = options.clock ?? systemClock;
    this.#number = options.firstNumber ?? Math.floor(this.#clock.now() / 1000) * 1000;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    for (const o of driver.simulation?.observations ?? []) this.#values.set(o.refid, o.start);
  }

  get sent(): number {
    return this.#sent;
  }

  get resends(): number {
    return this.#resends;
  }

  get connects(): number {
    return this.#connects;
  }

  describe(): string {
    const interval = this.#interval();
    return `HL7 monitor ${this.#deviceId} (MSH-3 SIM_MONITOR^${this.#eui}^EUI-64) sending ORU^R01 to ${this.#options.host ?? '127.0.0.1'}:${this.#options.port} ${interval === 0 ? 'back to back' : `every ${interval} ms`}, ${this.#options.enhanced === false ? 'original mode (AA)' : 'enhanced mode (CA)'}`;
  }

  summary(): string {
    return `${this.#sent} messages sent, ${this.acked.size} acknowledged, ${this.rejected.size} rejected, ${this.#resends} resends, ${this.#connects} connections`;
  }

  #interval(): number {
    return this.#options.intervalMs ?? this.#driver.simulation?.intervalMs ?? 5000;
  }

  /** Starts connecting (and reconnecting until stopped); resolves at once, without waiting for the connection. */
  async start(): Promise<void> {
    this.#connect();
  }

  #connect(): void {
    if (this.#stopped) return;
    const host = this.#options.host ?? '127.0.0.1';
    const socket = this.#options.tls ? tlsConnect({ host, port: this.#options.port, ...this.#options.tls }) : tcpConnect({ host, port: this.#options.port });
    socket.setNoDelay(true);
    const framer = new MllpFramer({ maxFrameBytes: 1 << 20, keepBytes: 64 });
    socket.once(this.#options.tls ? 'secureConnect' : 'connect', () => {
      this.#socket = socket;
      this.#connects += 1;
      // What was in flight on a lost connection goes again, same control ids: the receiver recognises resends.
      for (const p of this.#inFlight.values()) this.#transmit(p, true);
      if (this.#inFlight.size === 0) this.#next();
    });
    socket.on('data', (chunk: Buffer) => {
      for (const item of framer.push(chunk)) if (item.kind === 'frame') this.#onAck(item.payload.toString('utf8'));
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      if (this.#socket === socket) this.#socket = undefined;
      for (const p of this.#inFlight.values()) clearTimeout(p.timer);
      if (!this.#stopped) this.#reconnectTimer = setTimeout(() => this.#connect(), 200);
    });
  }

  #finished(): boolean {
    return this.#options.count !== undefined && this.#sent >= this.#options.count;
  }

  /** Sends the next message now (back to back, or when the cadence is due). */
  #next(): void {
    if (this.#stopped || !this.#socket || this.#finished()) return;
    const interval = this.#interval();
    if (interval > 0) {
      clearTimeout(this.#cadenceTimer);
      this.#cadenceTimer = setTimeout(() => this.#next(), interval);
    }
    const faults = this.#options.faults ?? [];
    // A monitor that waits for its ACK skips a beat while the previous message is unanswered.
    if (!faults.includes('no-ack-wait') && this.#inFlight.size > 0) return;
    for (const text of this.#messages()) {
      if (this.#finished()) break;
      const controlId = /^MSH\|[^|]*\|(?:[^|]*\|){7}([^|]*)/.exec(text)?.[1] ?? '';
      const pending: Pending = { controlId, frame: mllpFrame(text), firstSentAt: performance.now(), timer: undefined };
      this.#inFlight.set(controlId, pending);
      this.#sent += 1;
      this.#transmit(pending, false);
      if (faults.includes('resend')) {
        this.#resends += 1;
        this.#socket.write(pending.frame);
      }
    }
  }

  #transmit(p: Pending, again: boolean): void {
    const socket = this.#socket;
    if (!socket) return;
    if (again) this.#resends += 1;
    if ((this.#options.faults ?? []).includes('garbage') && this.#random() < 0.2) socket.write(Buffer.from('\r\n\x07noise\r\n'));
    socket.write(p.frame);
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      // No ACK in time: send the same message again on the same connection (it may just be slow).
      if (this.#inFlight.has(p.controlId)) this.#transmit(p, true);
    }, this.#options.ackTimeoutMs ?? 10_000);
  }

  #onAck(ack: string): void {
    const msa = ack.split('\r').find((s) => s.startsWith('MSA'))?.split('|') ?? [];
    const code = msa[1] ?? '';
    const controlId = msa[2] ?? '';
    const pending = this.#inFlight.get(controlId);
    if (!pending) return; // the answer to a resend that was already answered
    if ((this.#options.faults ?? []).includes('lose-ack') && this.#random() < 0.1) return;
    clearTimeout(pending.timer);
    this.#inFlight.delete(controlId);
    if (code === 'AA' || code === 'CA') this.acked.set(controlId, performance.now() - pending.firstSentAt);
    else {
      this.rejected.set(controlId, code);
      this.#options.log?.(`message ${controlId} answered ${code}: ${ack.split('\r').slice(1).join(' | ')}`);
    }
    if (this.#finished() && this.#inFlight.size === 0) this.#resolveDone();
    if (this.#interval() === 0) this.#next();
  }

  /** One ORU^R01 of the current values, and an ORU^R40 when SpO2 crosses 90 %. */
  #messages(): string[] {
    const now = new Date(this.#clock.now());
    const observations = this.#driver.simulation?.observations ?? [];
    for (const o of observations) {
      const previous = this.#values.get(o.refid) ?? o.start;
      const moved = Math.min(o.max, Math.max(o.min, previous + (this.#random() * 2 - 1) * o.step));
      this.#values.set(o.refid, Number(moved.toFixed(o.decimals)));
    }
    const time = hl7Time(now);
    const header = (type: string): string => {
      this.#number += 1;
      const mode = this.#options.enhanced === false ? '' : '|||AL|NE';
      return `MSH|^~\\&|SIM_MONITOR^${this.#eui}^EUI-64|SIMULATED_WARD|||${time}||${type}|${escapeHl7(this.#deviceId)}-${this.#number}|P|2.6${mode}`;
    };
    const equipment = `${this.#eui}^^${this.#eui}^EUI-64`;
    const segments = [
      header('ORU^R01^ORU_R01'),
      'PID|||SIM-0001^^^SIM^MR||Simulated^Patient',
      `PV1||I|SIM^^${escapeHl7(this.#deviceId)}`,
      `OBR|1|||182777000^monitoring of patient^SCT|||${time}`,
      `OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||${equipment}`,
      ...observations.map((o, i) => `OBX|${i + 2}|NM|${o.code}^${o.refid}^MDC|${o.hierarchy}|${this.#values.get(o.refid) ?? o.start}|${o.unit}|||||R|||${time}`),
    ];
    const out = [segments.join('\r')];
    const spo2 = this.#values.get('MDC_PULS_OXIM_SAT_O2');
    if (this.#options.alarms !== false && spo2 !== undefined && (spo2 < 90) !== this.#alarmActive) {
      this.#alarmActive = spo2 < 90;
      const phase = this.#alarmActive ? ['start', 'active'] : ['end', 'inactive'];
      out.push(
        [
          header('ORU^R40^ORU_R40'),
          `PV1||I|SIM^^${escapeHl7(this.#deviceId)}`,
          `OBR|1|||196616^MDC_EVT_ALARM^MDC|||${time}`,
          `OBX|1|ST|196670^MDC_EVT_LO^MDC|1.3.1.150456.1|SpO2 low|||PH~SP|||F|||${time}||||${equipment}`,
          `OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456.2|${spo2}|262688^MDC_DIM_PERCENT^MDC|90-100||||F|||${time}`,
          `OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.3.1.150456.3|${phase[0]}||||||F`,
          `OBX|4|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.3.1.150456.4|${phase[1]}||||||F`,
        ].join('\r'),
      );
    }
    return out;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#cadenceTimer);
    for (const p of this.#inFlight.values()) clearTimeout(p.timer);
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket && !socket.destroyed) await new Promise<void>((resolve) => socket.end(() => resolve()));
    socket?.destroy();
  }
}

export async function startHl7Simulator(options: Hl7SimulatorOptions): Promise<Hl7Simulator> {
  const configDir = options.configDir ?? process.cwd();
  const { driver } = loadDriverFile(options.driver ?? 'ihe-pcd01', Hl7Driver, driverSearchPaths(configDir), configDir);
  if (!driver.simulation) throw new GatewayError('GW_USAGE', `driver ${driver.name} has no simulation section: nothing to send`);
  const sim = new MonitorSimulator(driver, options);
  await sim.start();
  return sim;
}

export const hl7SimulatorFactory: SimulatorFactory = async (driver, options, context) => {
  const unknown = options.faults.filter((f) => !(HL7_FAULTS as readonly string[]).includes(f));
  if (unknown.length > 0) throw new GatewayError('GW_USAGE', `unknown hl7 fault ${unknown.join(', ')}; use ${HL7_FAULTS.join(', ')}`);
  if (options.port === undefined) throw new GatewayError('GW_USAGE', 'the HL7 simulator is a sender: give --port (and --host) of the gateway\'s MLLP listener');
  if (options.devices.length > 1) throw new GatewayError('GW_USAGE', `--device-id: the HL7 simulator is one monitor; give one (got ${options.devices.join(', ')})`);
  return startHl7Simulator({
    driver: driver.file,
    configDir: context.configDir,
    port: options.port,
    faults: options.faults as Hl7Fault[],
    log: context.log,
    clock: context.clock,
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.devices.length === 0 ? {} : { deviceId: options.devices[0] }),
    ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
    ...(options.count === undefined ? {} : { count: options.count }),
  });
};
