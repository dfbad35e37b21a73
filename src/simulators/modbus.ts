/**
 * Modbus device simulator: serves drivers' register maps (one or many unit ids) over Modbus TCP or, with `rtu`,
 * Modbus RTU on a pseudo-terminal (a socat pty pair; the gateway opens the printed path). Values are plausible and
 * changing, from each register's `simulate` hint (base, sine swing, ramp, noise in engineering units), encoded
 * with the register's type, byte order and scale. Reads of unmapped addresses inside a table's mapped range answer
 * zeros (gap filling works); outside it, exception 2. Every request frame is counted per unit id, so tests can
 * check the number of requests against the read plan. Faults per unit: silent (no answer), exception CODE, busy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ModbusSerial from 'modbus-serial';
import { loadDriverFile } from '../drivers/driver-files.js';
import { GatewayError } from '../errors.js';
import { encodeWords } from '../inputs/modbus/decode.js';
import { isBitTable, ModbusDriverSchema, registerCount, type ModbusDriver, type RegisterDefT, type RegisterTable } from '../inputs/modbus/driver.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Lifecycle } from '../util/lifecycle.js';
import type { SimulatorFactory } from './simulator.js';

const { ServerTCP, ServerSerial } = ModbusSerial;

export type UnitFault = { kind: 'silent' } | { kind: 'exception'; code: number } | { kind: 'busy' };

export interface SimulatedUnit {
  unitId: number;
  driver: ModbusDriver;
  /** Fixed values by metric (engineering units) instead of the simulated ones. */
  fixed?: Record<string, number | boolean | string>;
}

export interface ModbusSimulatorOptions {
  units: SimulatedUnit[];
  /** TCP port; 0 or omitted = a free one. */
  port?: number;
  host?: string;
  /** Serve RTU on a pseudo-terminal instead of TCP. */
  rtu?: boolean;
  baudRate?: number;
  /** RTU: where to link the gateway side's pseudo-terminal (default: a fresh temp folder). */
  rtuLink?: string;
  /** Keep every request in `served` (tests); off for long-running simulators, which only count. */
  recordRequests?: boolean;
  /** The simulated devices' clock (the values' movement over time, the pty deadline); default the system clock. */
  clock?: Clock;
}

export interface ServedRequest {
  unitId: number;
  functionCode: number;
  start: number;
  count: number;
}

type VectorCallback<T> = (err: { modbusErrorCode: number } | null, value: T) => void;

/** Finds a free TCP port on the loopback interface. */
export async function freeTcpPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

class SimulatedImage {
  #unit: SimulatedUnit;
  readonly #clock: Clock;
  readonly #started: number;
  readonly #ranges = new Map<RegisterTable, { min: number; max: number }>();

  constructor(unit: SimulatedUnit, clock: Clock) {
    this.#unit = unit;
    this.#clock = clock;
    this.#started = clock.now();
    for (const reg of unit.driver.registers) {
      const table = tableOf(reg);
      const count = isBitTable(table) ? 1 : registerCount(reg.type, reg.length);
      const range = this.#ranges.get(table) ?? { min: reg.address.address, max: reg.address.address + count - 1 };
      range.min = Math.min(range.min, reg.address.address);
      range.max = Math.max(range.max, reg.address.address + count - 1);
      this.#ranges.set(table, range);
    }
  }

  setValue(metric: string, value: number | boolean | string | undefined): void {
    const fixed = { ...this.#unit.fixed };
    if (value === undefined) delete fixed[metric];
    else fixed[metric] = value;
    this.#unit = { ...this.#unit, fixed };
  }

  /** The current words (or bits) of [start, start+count) of a table; undefined when outside the mapped range. */
  read(table: RegisterTable, start: number, count: number): (number | boolean)[] | undefined {
    const range = this.#ranges.get(table);
    if (range === undefined || start < range.min || start + count - 1 > range.max) return undefined;
    const out: (number | boolean)[] = Array.from({ length: count }, () => (isBitTable(table) ? false : 0));
    const seconds = (this.#clock.now() - this.#started) / 1000;
    for (const reg of this.#unit.driver.registers) {
      if (tableOf(reg) !== table) continue;
      const at = reg.address.address - start;
      const words = this.#valueWords(reg, seconds, table);
      words.forEach((w, i) => {
        const index = at + i;
        if (index < 0 || index >= count) return;
        if (reg.type === 'bit') out[index] = (Number(out[index]) & ~(1 << reg.bit!)) | (w ? 1 << reg.bit! : 0);
        else out[index] = w;
      });
    }
    return out;
  }

  #valueWords(reg: RegisterDefT, seconds: number, table: RegisterTable): (number | boolean)[] {
    const fixed = this.#unit.fixed?.[reg.metric];
    if (reg.type === 'bool' || reg.type === 'bit') {
      const on = fixed !== undefined ? Boolean(fixed) : Math.floor(seconds / 10 + reg.address.address) % 2 === 0;
      return isBitTable(table) ? [on] : [on ? 1 : 0];
    }
    if (reg.type === 'string') {
      const text = typeof fixed === 'string' ? fixed : `SIM-${this.#unit.driver.model}`.slice(0, (reg.length ?? 1) * 2);
      return encodeWords(text, 'string', reg.byteOrder ?? this.#unit.driver.byteOrder, reg.length ?? 1);
    }
    let value: number;
    if (typeof fixed === 'number') value = fixed;
    else {
      const hint = reg.simulate ?? { base: 0, amplitude: 0, period: 60_000, ramp: 0, noise: 0 };
      value =
        hint.base +
        hint.amplitude * Math.sin((2 * Math.PI * seconds * 1000) / Math.max(1, hint.period)) +
        hint.ramp * seconds +
        hint.noise * (Math.random() * 2 - 1);
    }
    const raw = (value - reg.offset) / (reg.scale === 0 ? 1 : reg.scale);
    return encodeWords(raw, reg.type, reg.byteOrder ?? this.#unit.driver.byteOrder, reg.length ?? 1);
  }
}

function tableOf(reg: RegisterDefT): RegisterTable {
  return reg.table ?? reg.address.table ?? 'holding';
}

const TABLE_OF_FC: Readonly<Record<number, RegisterTable>> = { 1: 'coil', 2: 'discrete', 3: 'holding', 4: 'input' };

export class ModbusSimulator implements Lifecycle {
  readonly #options: ModbusSimulatorOptions;
  readonly #images = new Map<number, SimulatedImage>();
  readonly #faults = new Map<number, UnitFault>();
  /** Every request frame received, in order (unless recordRequests is false). */
  readonly served: ServedRequest[] = [];
  /** Request frames received. */
  servedCount = 0;
  #tcp: InstanceType<typeof ServerTCP> | undefined;
  #serial: InstanceType<typeof ServerSerial> | undefined;
  #socat: ChildProcess | undefined;
  #ptyDir: string | undefined;
  #port = 0;
  #clientPath = '';
  #busyToggle = false;

  constructor(options: ModbusSimulatorOptions) {
    this.#options = options;
    for (const unit of options.units) this.#images.set(unit.unitId, new SimulatedImage(unit, options.clock ?? systemClock));
  }

  get port(): number {
    return this.#port;
  }

  /** RTU mode: the pseudo-terminal the gateway (the Modbus client) opens. */
  get clientPath(): string {
    return this.#clientPath;
  }

  get url(): string {
    return this.#options.rtu ? this.#clientPath : `127.0.0.1:${this.#port}`;
  }

  /** Request frames received for one unit id (optionally since index `from` of `served`). */
  requestsFor(unitId: number, from = 0): ServedRequest[] {
    return this.served.slice(from).filter((r) => r.unitId === unitId);
  }

  /** Pins a metric of a unit to a value (engineering units); undefined returns it to simulated values. */
  setValue(unitId: number, metric: string, value: number | boolean | string | undefined): void {
    this.#images.get(unitId)?.setValue(metric, value);
  }

  setFault(unitId: number, fault: UnitFault | undefined): void {
    if (fault === undefined) this.#faults.delete(unitId);
    else this.#faults.set(unitId, fault);
  }

  async start(): Promise<void> {
    const vector = this.#vector();
    if (this.#options.rtu) {
      await this.#startRtu(vector);
      return;
    }
    this.#port = this.#options.port || (await freeTcpPort());
    const server = new ServerTCP(vector, { host: this.#options.host ?? '127.0.0.1', port: this.#port, unitID: 255 });
    this.#tcp = server;
    const net = (server as unknown as { _server: Server })._server;
    net.on('connection', (sock: Socket) => this.#countTcpFrames(sock));
    await new Promise<void>((resolve, reject) => {
      server.on('initialized', () => resolve());
      server.on('serverError', (err) => reject(err instanceof Error ? err : new Error(String(err))));
    });
  }

  async stop(): Promise<void> {
    const tcp = this.#tcp;
    this.#tcp = undefined;
    if (tcp) {
      for (const sock of tcp.socks.keys()) sock.destroy();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    }
    const serial = this.#serial;
    this.#serial = undefined;
    if (serial) await new Promise<void>((resolve) => serial.close(() => resolve()));
    if (this.#socat && this.#socat.exitCode === null) {
      const exited = new Promise((resolve) => this.#socat?.once('exit', resolve));
      this.#socat.kill('SIGTERM');
      await exited;
    }
    if (this.#ptyDir) rmSync(this.#ptyDir, { recursive: true, force: true });
  }

  /** MBAP frames: transaction(2) protocol(2) length(2) unit(1) fc(1) start(2) count(2). */
  #countTcpFrames(sock: Socket): void {
    let pending = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 6) {
        const length = pending.readUInt16BE(4);
        if (pending.length < 6 + length) break;
        this.#record(pending.subarray(6, 6 + length));
        pending = pending.subarray(6 + length);
      }
    });
  }

  #record(pdu: Buffer): void {
    if (pdu.length < 6) return;
    this.servedCount += 1;
    if (this.#options.recordRequests === false) return;
    this.served.push({ unitId: pdu[0] ?? 0, functionCode: pdu[1] ?? 0, start: pdu.readUInt16BE(2), count: pdu.readUInt16BE(4) });
  }

  async #startRtu(vector: object): Promise<void> {
    this.#ptyDir = mkdtempSync(join(tmpdir(), 'etg-modbus-pty-'));
    const serverPath = join(this.#ptyDir, 'simulator');
    this.#clientPath = this.#options.rtuLink ?? join(this.#ptyDir, 'gateway');
    // socat links two pseudo-terminals: what one side writes, the other reads, like a null-modem cable.
    this.#socat = spawn('socat', [`pty,raw,echo=0,link=${serverPath}`, `pty,raw,echo=0,link=${this.#clientPath}`], { stdio: 'ignore' });
    const socatFailed = new Promise<never>((_, reject) => {
      this.#socat?.once('error', (err) => reject(new GatewayError('GW_USAGE', `socat is needed for --rtu (apt-get install socat): ${err.message}`)));
    });
    const clock = this.#options.clock ?? systemClock;
    const deadline = clock.now() + 5000;
    while (!(existsSync(serverPath) && existsSync(this.#clientPath))) {
      if (clock.now() > deadline) throw new Error('socat did not create the pseudo-terminals within 5 s');
      await Promise.race([new Promise((r) => setTimeout(r, 20)), socatFailed]);
    }
    await new Promise<void>((resolve, reject) => {
      const server = new ServerSerial(vector, {
        path: serverPath,
        baudRate: this.#options.baudRate ?? 9600,
        unitID: 255,
        openCallback: (err) => (err ? reject(err) : resolve()),
      } as ConstructorParameters<typeof ServerSerial>[1]);
      this.#serial = server;
      // One 'data' event per frame: the server splits the byte stream on inter-frame silence.
      const framed = (server as unknown as { _server: EventEmitter })._server;
      framed.on('data', (frame: Buffer) => this.#record(frame));
    });
  }

  #answer<T>(unitId: number, functionCode: number, start: number, count: number, cb: VectorCallback<T>, pick: (values: (number | boolean)[]) => T): void {
    const fault = this.#faults.get(unitId);
    const image = this.#images.get(unitId);
    if (image === undefined || fault?.kind === 'silent') return; // no such device on the bus: no answer
    // modbus-serial indexes the value even on errors: hand it an empty one, not undefined.
    if (fault?.kind === 'exception') {
      cb({ modbusErrorCode: fault.code }, pick([]));
      return;
    }
    if (fault?.kind === 'busy') {
      this.#busyToggle = !this.#busyToggle;
      if (this.#busyToggle) {
        cb({ modbusErrorCode: 6 }, pick([]));
        return;
      }
    }
    const table = TABLE_OF_FC[functionCode] ?? 'holding';
    const values = image.read(table, start, count);
    if (values === undefined) {
      cb({ modbusErrorCode: 2 }, pick([]));
      return;
    }
    cb(null, pick(values));
  }

  /** The modbus-serial service vector (callback style, so a silent unit simply never answers). */
  #vector(): object {
    const words = (v: (number | boolean)[]): number[] => v.map(Number);
    const first = (v: (number | boolean)[]): number => Number(v[0] ?? 0);
    const bit = (v: (number | boolean)[]): boolean => Boolean(v[0]);
    return {
      getMultipleHoldingRegisters: (addr: number, length: number, unitId: number, cb: VectorCallback<number[]>) => this.#answer(unitId, 3, addr, length, cb, words),
      getMultipleInputRegisters: (addr: number, length: number, unitId: number, cb: VectorCallback<number[]>) => this.#answer(unitId, 4, addr, length, cb, words),
      getHoldingRegister: (addr: number, unitId: number, cb: VectorCallback<number>) => this.#answer(unitId, 3, addr, 1, cb, first),
      getInputRegister: (addr: number, unitId: number, cb: VectorCallback<number>) => this.#answer(unitId, 4, addr, 1, cb, first),
      getCoil: (addr: number, unitId: number, cb: VectorCallback<boolean>) => this.#answer(unitId, 1, addr, 1, cb, bit),
      getDiscreteInput: (addr: number, unitId: number, cb: VectorCallback<boolean>) => this.#answer(unitId, 2, addr, 1, cb, bit),
    };
  }

  describe(): string {
    const units = this.#options.units.map((u) => `unit ${u.unitId} ${u.driver.model}`).join(', ');
    return this.#options.rtu ? `modbus RTU simulator on ${this.#clientPath} (9600 8N1): ${units}` : `modbus TCP simulator on 127.0.0.1:${this.#port}: ${units}`;
  }
}

/** `telemetry-gateway simulate --driver NAME [--port N] [--unit-id N] [--rtu]`. */
export const modbusSimulatorFactory: SimulatorFactory = async (driverRef, options, context) => {
  const { driver } = loadDriverFile(driverRef.file, ModbusDriverSchema, context.driverSearchPaths, context.configDir);
  const simulator = new ModbusSimulator({
    units: [{ unitId: options.unitId ?? 1, driver }],
    ...(options.port === undefined ? {} : { port: options.port }),
    rtu: options.rtu ?? false,
    recordRequests: false,
    clock: context.clock,
  });
  for (const fault of options.faults) {
    const [kind, code] = fault.split(':');
    if (kind === 'silent' || kind === 'busy') simulator.setFault(options.unitId ?? 1, { kind });
    else if (kind === 'exception') simulator.setFault(options.unitId ?? 1, { kind, code: Number(code ?? 4) });
    else throw new GatewayError('GW_USAGE', `unknown modbus fault "${fault}": use silent, busy or exception:CODE`);
  }
  await simulator.start();
  return { describe: () => simulator.describe(), stop: () => simulator.stop() };
};
