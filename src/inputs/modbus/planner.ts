/**
 * Pure read planning: a device's registers (driver + the device's overrides) → per poll group, the fewest read
 * requests. Registers of the same table are coalesced into one request while the unused gap between them is at
 * most `maxGap` and the request stays within the per-request limit (125 registers / 2000 bits by the protocol,
 * lower when the driver says so). A value is never split across requests.
 */
import { didYouMean, type PathProblem } from '../../config/problems.js';
import type { ModbusDeviceT } from './config.js';
import { isBitTable, registerCount, type ByteOrder, type DataType, type ModbusDriver, type RegisterTable } from './driver.js';

export const DEFAULT_POLL_INTERVAL_MS = 10_000;

export const FUNCTION_CODE: Readonly<Record<RegisterTable, 1 | 2 | 3 | 4>> = { coil: 1, discrete: 2, holding: 3, input: 4 };

export interface ResolvedRegister {
  metric: string;
  table: RegisterTable;
  address: number;
  /** Registers (or bits, in the coil/discrete tables) the value occupies. */
  count: number;
  type: DataType;
  bit: number;
  length: number;
  byteOrder: ByteOrder;
  scale: number;
  offset: number;
  unit: string | null;
  code: string | undefined;
  group: string;
  invalid: readonly number[];
  validRange: { min?: number | undefined; max?: number | undefined } | undefined;
  /** Report-on-change: undefined = report every poll. */
  reportOnChange: { deadband: number; maxInterval: number | undefined } | undefined;
}

export interface ReadRequest {
  table: RegisterTable;
  functionCode: 1 | 2 | 3 | 4;
  start: number;
  count: number;
  registers: readonly ResolvedRegister[];
}

export interface PollGroupPlan {
  name: string;
  intervalMs: number;
  requests: readonly ReadRequest[];
}

export interface DevicePlan {
  groups: readonly PollGroupPlan[];
  registers: readonly ResolvedRegister[];
}

export interface PlanLimits {
  maxGapRegisters: number;
  maxGapBits: number;
  maxRegisters: number;
  maxBits: number;
}

/** Applies the device's overrides to its driver. Problem paths are relative to the device. */
export function resolveDevice(driver: ModbusDriver, device: ModbusDeviceT): { registers: ResolvedRegister[]; problems: PathProblem[] } {
  const problems: PathProblem[] = [];
  const metrics = new Set(driver.registers.map((r) => r.metric));
  const groups = new Set(['default', ...Object.keys(driver.pollGroups)]);
  for (const [metric, override] of Object.entries(device.overrides)) {
    if (!metrics.has(metric)) {
      const hint = didYouMean(metric, metrics);
      problems.push({ path: ['overrides', metric], message: `the driver has no metric "${metric}"${hint || ` (it has: ${[...metrics].join(', ')})`}` });
    }
    if (override.group !== undefined && !groups.has(override.group)) {
      const hint = didYouMean(override.group, groups);
      problems.push({ path: ['overrides', metric, 'group'], message: `unknown poll group "${override.group}"${hint || ` (the driver has: ${[...groups].join(', ')})`}` });
    }
  }
  for (const group of Object.keys(device.pollGroups ?? {})) {
    if (!groups.has(group)) {
      const hint = didYouMean(group, groups);
      problems.push({ path: ['pollGroups', group], message: `unknown poll group${hint || ` (the driver has: ${[...groups].join(', ')})`}` });
    }
  }
  const registers: ResolvedRegister[] = [];
  for (const reg of driver.registers) {
    const o = device.overrides[reg.metric] ?? {};
    if (o.enabled === false) continue;
    const table = reg.table ?? reg.address.table ?? 'holding';
    const deadband = o.deadband ?? reg.reportOnChange?.deadband;
    registers.push({
      metric: reg.metric,
      table,
      address: reg.address.address,
      count: isBitTable(table) ? 1 : registerCount(reg.type, reg.length),
      type: reg.type,
      bit: reg.bit ?? 0,
      length: reg.length ?? 1,
      byteOrder: o.byteOrder ?? reg.byteOrder ?? driver.byteOrder,
      scale: o.scale ?? reg.scale,
      offset: o.offset ?? reg.offset,
      unit: o.unit ?? reg.unit ?? null,
      code: reg.code,
      group: o.group ?? reg.group,
      invalid: reg.invalid,
      validRange: reg.validRange,
      reportOnChange: deadband === undefined ? undefined : { deadband, maxInterval: reg.reportOnChange?.maxInterval },
    });
  }
  return { registers, problems };
}

export function limitsOf(driver: ModbusDriver, device: ModbusDeviceT): PlanLimits {
  return {
    maxGapRegisters: device.maxGap?.registers ?? driver.maxGap.registers,
    maxGapBits: device.maxGap?.bits ?? driver.maxGap.bits,
    maxRegisters: driver.maxRegistersPerRequest,
    maxBits: driver.maxBitsPerRequest,
  };
}

/** Coalesces registers of one table into requests (greedy over the sorted addresses, which is optimal for intervals). */
export function planRequests(registers: readonly ResolvedRegister[], limits: PlanLimits): ReadRequest[] {
  const requests: ReadRequest[] = [];
  const byTable = new Map<RegisterTable, ResolvedRegister[]>();
  for (const reg of registers) byTable.set(reg.table, [...(byTable.get(reg.table) ?? []), reg]);
  for (const table of ['coil', 'discrete', 'holding', 'input'] as const) {
    const regs = (byTable.get(table) ?? []).slice().sort((a, b) => a.address - b.address || b.count - a.count);
    const bits = isBitTable(table);
    const maxCount = bits ? limits.maxBits : limits.maxRegisters;
    const maxGap = bits ? limits.maxGapBits : limits.maxGapRegisters;
    let current: { start: number; end: number; registers: ResolvedRegister[] } | undefined;
    for (const reg of regs) {
      const end = reg.address + reg.count; // exclusive
      if (current !== undefined) {
        const gap = reg.address - current.end;
        const newEnd = Math.max(current.end, end);
        if (gap <= maxGap && newEnd - current.start <= maxCount) {
          current.end = newEnd;
          current.registers.push(reg);
          continue;
        }
        requests.push(toRequest(table, current));
      }
      current = { start: reg.address, end, registers: [reg] };
    }
    if (current !== undefined) requests.push(toRequest(table, current));
  }
  return requests;
}

function toRequest(table: RegisterTable, span: { start: number; end: number; registers: ResolvedRegister[] }): ReadRequest {
  return { table, functionCode: FUNCTION_CODE[table], start: span.start, count: span.end - span.start, registers: span.registers };
}

/** The whole plan of one device: its poll groups (sorted by interval, then name), each with its requests. */
export function planDevice(driver: ModbusDriver, device: ModbusDeviceT): DevicePlan & { problems: PathProblem[] } {
  const { registers, problems } = resolveDevice(driver, device);
  const limits = limitsOf(driver, device);
  const names = [...new Set(registers.map((r) => r.group))];
  const groups = names.map((name) => ({
    name,
    intervalMs: groupInterval(driver, device, name),
    requests: planRequests(
      registers.filter((r) => r.group === name),
      limits,
    ),
  }));
  groups.sort((a, b) => a.intervalMs - b.intervalMs || a.name.localeCompare(b.name));
  return { groups, registers, problems };
}

export function groupInterval(driver: ModbusDriver, device: ModbusDeviceT, group: string): number {
  const fromDevice = device.pollGroups?.[group] ?? (group === 'default' ? device.pollInterval : undefined);
  return fromDevice ?? driver.pollGroups[group] ?? DEFAULT_POLL_INTERVAL_MS;
}

const TABLE_LABEL: Readonly<Record<RegisterTable, string>> = { coil: 'coils', discrete: 'discrete inputs', holding: 'holding registers', input: 'input registers' };

function hex(n: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** One line per request: `FC04 input registers 0x0001 count 2 → temperature, humidity`. */
export function describeRequest(request: ReadRequest): string {
  const used = request.registers.reduce((sum, r) => sum + r.count, 0);
  const filler = used < request.count && request.registers.length > 0 ? ` (${request.count - countCovered(request)} unused)` : '';
  return `FC${String(request.functionCode).padStart(2, '0')} ${TABLE_LABEL[request.table]} ${hex(request.start)} count ${request.count}${filler} → ${request.registers.map((r) => r.metric).join(', ')}`;
}

function countCovered(request: ReadRequest): number {
  const covered = new Set<number>();
  for (const r of request.registers) for (let a = r.address; a < r.address + r.count; a++) covered.add(a);
  return covered.size;
}

/** Short text of a request for logs, reasons and the `source` field: `FC04 0x0001+2`. */
export function requestLabel(request: Pick<ReadRequest, 'functionCode' | 'start' | 'count'>): string {
  return `FC${String(request.functionCode).padStart(2, '0')} ${hex(request.start)}+${request.count}`;
}
