/**
 * Modbus input: one bus, many devices. Each device's poll groups run on their own fixed-rate schedule; a poll
 * sends the group's planned requests through the bus (serialized with every other device's) and hands all the
 * readings of the poll, plus any device-status transition, to the buffer in one `append`.
 *
 * Failure isolation: a failed request makes only its own metrics `bad`; the device goes online → degraded →
 * offline (after `offlineAfter` consecutive fully failed polls) and back to online on success. A device whose last
 * poll failed entirely gets one attempt per poll (no retries; the rest of its requests are not sent once it does
 * not answer), so a dead device costs the bus at most one timeout per poll and the others keep their schedule. A poll that is still running when
 * its next one is due is an overrun: the missed poll is reported as a `gap` event and logged.
 */
import { errorMessage } from '../../errors.js';
import type { EventDraft } from '../../events/schema.js';
import { loadDriverFile } from '../../drivers/driver-files.js';
import type { Logger } from '../../util/logger.js';
import type { Input, InputConnection, InputDeps, InputMetric } from '../input.js';
import { ModbusBus, ModbusRequestError, describeTransport, type BusStats } from './bus.js';
import type { ModbusDeviceT, ModbusInputConfigT } from './config.js';
import { ModbusDriverSchema } from './driver.js';
import { planDevice, requestLabel, type PollGroupPlan, type ReadRequest, type ResolvedRegister } from './planner.js';
import { badReadings, ChangeFilter, readingsFromResponse } from './readings.js';

type DeviceStatus = 'online' | 'degraded' | 'offline';

interface DeviceState {
  config: ModbusDeviceT;
  groups: readonly PollGroupPlan[];
  registers: ReadonlyMap<string, ResolvedRegister>;
  status: DeviceStatus | 'unknown';
  consecutiveFailures: number;
  changes: ChangeFilter;
  figures: DeviceFigures;
}

/** Per device, for metrics(): its polls and the reads that gave bad readings. */
interface DeviceFigures {
  polls: number;
  pollSeconds: number;
  lastPollSeconds: number;
  overruns: number;
  /** Planned reads whose readings became `bad` (no answer, exception, invalid, not sent). */
  failedReads: number;
}

interface PollLoop {
  device: DeviceState;
  group: PollGroupPlan;
  nextDue: number;
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  /** Polls skipped since the last report because the previous one was still running. */
  missed: { count: number; from: number; to: number } | undefined;
}

export interface ModbusInputStats extends BusStats {
  polls: number;
  overruns: number;
  /** Start lag of recent polls (actual start − due time), ms; the last 10 000 or so. */
  recentLagMs: readonly number[];
  /** Due time to completion (every request answered or failed, readings handed to the buffer), ms; the last 10 000 or so. */
  recentCompletionMs: readonly number[];
}

const LAG_WINDOW = 10_000;

/** A fraction in [0, 1) derived from a name (FNV-1a), the same on every start. */
function stableFraction(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return hash / 0x1_0000_0000;
}

export class ModbusInput implements Input {
  readonly name: string;
  readonly #config: ModbusInputConfigT;
  readonly #deps: InputDeps;
  readonly #log: Logger;
  #bus: ModbusBus | undefined;
  #devices: DeviceState[] = [];
  #loops: PollLoop[] = [];
  #stopping = false;
  #polls = 0;
  #overruns = 0;
  #lags: number[] = [];
  #completions: number[] = [];

  constructor(config: ModbusInputConfigT, deps: InputDeps) {
    this.name = config.name;
    this.#config = config;
    this.#deps = deps;
    this.#log = deps.logger.child({ input: config.name });
  }

  get stats(): ModbusInputStats {
    const bus = this.#bus?.stats ?? { connected: false, connects: 0, requests: 0, failedRequests: 0, retries: 0 };
    return { ...bus, polls: this.#polls, overruns: this.#overruns, recentLagMs: this.#lags, recentCompletionMs: this.#completions };
  }

  /** Loads the drivers, connects the bus (the first attempt only; failures retry in the background) and starts polling. */
  async start(): Promise<void> {
    const c = this.#config;
    const devices: DeviceState[] = c.devices.map((config) => {
      const { driver } = loadDriverFile(config.driver, ModbusDriverSchema, this.#deps.driverSearchPaths, this.#deps.configDir);
      const plan = planDevice(driver, config);
      const registers = new Map(plan.registers.map((reg) => [reg.metric, reg]));
      const figures = { polls: 0, pollSeconds: 0, lastPollSeconds: 0, overruns: 0, failedReads: 0 };
      return { config, groups: plan.groups, registers, status: 'unknown', consecutiveFailures: 0, changes: new ChangeFilter(), figures };
    });
    this.#devices = devices;
    this.#bus = new ModbusBus({
      transport: c.transport,
      timeoutMs: c.timeout,
      retries: c.retries,
      retryOnBusy: c.retryOnBusy,
      interRequestDelayMs: c.interRequestDelay,
      reconnect: c.reconnect,
      logger: this.#log,
      clock: this.#deps.clock,
    });
    await this.#bus.start();
    // Stagger the first polls over (at most) one second so many devices do not all start at the same instant;
    // the input name shifts the pattern, so many single-device inputs (Modbus TCP devices) spread out as well.
    const now = this.#deps.clock.now();
    const all = devices.flatMap((device) => device.groups.map((group) => ({ device, group })));
    const shift = stableFraction(this.name);
    this.#loops = all.map(({ device, group }, i) => ({
      device,
      group,
      nextDue: now + Math.floor((((i / all.length) + shift) % 1) * Math.min(group.intervalMs, 1000)),
      timer: undefined,
      running: undefined,
      missed: undefined,
    }));
    for (const loop of this.#loops) this.#schedule(loop);
    this.#log.info({ bus: this.#bus.label, devices: devices.length, pollGroups: this.#loops.length }, 'modbus input started');
  }

  /** Per device (label `device`): request frames and their outcomes, polls and their duration; the bus connection. */
  metrics(): InputMetric[] {
    const bus = this.#bus;
    const out: InputMetric[] = [
      { name: 'modbus_connected', help: '1 while the Modbus bus (TCP connection or serial port) is open', type: 'gauge', value: bus?.stats.connected ? 1 : 0 },
      { name: 'modbus_connects_total', help: 'Times the bus connection was opened (1 + reconnects)', type: 'counter', value: bus?.stats.connects ?? 0 },
    ];
    for (const device of this.#devices) {
      const labels = { device: device.config.id };
      const unit = bus?.unitStats(device.config.unitId);
      const counter = (name: string, help: string, value: number, extra: Record<string, string> = {}): InputMetric => ({ name, help, type: 'counter', labels: { ...labels, ...extra }, value });
      const f = device.figures;
      out.push(
        counter('modbus_requests_total', 'Modbus request frames sent to the device (each retry counts)', unit?.requests ?? 0),
        counter('modbus_timeouts_total', 'Requests the device did not answer within the timeout', unit?.timeouts ?? 0),
        counter('modbus_invalid_responses_total', 'Answers that could not be used (length, CRC) and requests cut off by a lost connection', unit?.invalidResponses ?? 0),
        counter('modbus_retries_total', 'Requests repeated after a timeout or a busy exception', unit?.retries ?? 0),
        counter('modbus_failed_reads_total', 'Planned reads whose readings became bad (after retries; includes reads not sent while the bus or device was down)', f.failedReads),
        counter('modbus_polls_total', 'Polls of the device (one per poll group and interval)', f.polls),
        counter('modbus_poll_duration_seconds_total', 'Time spent in polls, from the start (including waiting for the shared bus) to the last answer; divide by modbus_polls_total for the mean', f.pollSeconds),
        counter('modbus_poll_overruns_total', 'Polls skipped because the previous poll of the group was still running (reported as gap events)', f.overruns),
        { name: 'modbus_last_poll_duration_seconds', help: 'Duration of the most recent poll of the device (including waiting for the shared bus)', type: 'gauge', labels, value: f.lastPollSeconds },
        ...[...(unit?.exceptions ?? [])].map(([exception, n]) => counter('modbus_exceptions_total', 'Exception responses of the device, by exception', n, { exception })),
      );
    }
    return out;
  }

  devices(): readonly string[] {
    return this.#config.devices.map((d) => d.id);
  }

  connection(): InputConnection {
    const endpoint = describeTransport(this.#config.transport);
    const bus = this.#bus;
    if (!bus) return { state: 'connecting', endpoint };
    const c = bus.connection;
    const connects = bus.stats.connects;
    const detail = c.state === 'connected' ? (connects > 1 ? `reconnected ${connects - 1}×` : undefined) : c.lastError || undefined;
    return { state: c.state, endpoint, since: c.since, ...(detail === undefined ? {} : { detail }) };
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const loop of this.#loops) clearTimeout(loop.timer);
    await Promise.allSettled(this.#loops.map((loop) => loop.running));
    await this.#bus?.stop();
  }

  #schedule(loop: PollLoop): void {
    if (this.#stopping) return;
    const delay = Math.max(0, loop.nextDue - this.#deps.clock.now());
    loop.timer = setTimeout(() => this.#tick(loop), delay);
  }

  #tick(loop: PollLoop): void {
    if (this.#stopping) return;
    const due = loop.nextDue;
    const now = this.#deps.clock.now();
    // Fixed rate: the next poll is due one interval after this one's due time, skipping any already missed.
    loop.nextDue = due + loop.group.intervalMs;
    while (loop.nextDue <= now) {
      this.#recordMissed(loop, loop.nextDue);
      loop.nextDue += loop.group.intervalMs;
    }
    if (loop.running !== undefined) {
      this.#recordMissed(loop, due);
    } else {
      this.#lags.push(now - due);
      if (this.#lags.length > LAG_WINDOW) this.#lags = this.#lags.slice(-LAG_WINDOW / 2);
      const running = this.#poll(loop).catch((err: unknown) => {
        this.#log.error({ device: loop.device.config.id, err: errorMessage(err) }, 'modbus poll failed unexpectedly');
      });
      loop.running = running.finally(() => {
        loop.running = undefined;
        this.#completions.push(this.#deps.clock.now() - due);
        if (this.#completions.length > LAG_WINDOW) this.#completions = this.#completions.slice(-LAG_WINDOW / 2);
      });
    }
    this.#schedule(loop);
  }

  #recordMissed(loop: PollLoop, due: number): void {
    this.#overruns += 1;
    loop.device.figures.overruns += 1;
    if (loop.missed === undefined) loop.missed = { count: 0, from: due, to: due };
    loop.missed.count += 1;
    loop.missed.to = due;
  }

  async #poll(loop: PollLoop): Promise<void> {
    const bus = this.#bus;
    if (bus === undefined) return;
    this.#polls += 1;
    const { device, group } = loop;
    const dev = device.config;
    // A duration, not a time of day: the monotonic timer (sub-millisecond, unmoved by clock steps) measures it.
    const started = performance.now();
    const drafts: EventDraft[] = [];
    if (loop.missed !== undefined) {
      const missed = loop.missed;
      loop.missed = undefined;
      const metrics = group.requests.reduce((n, r) => n + r.registers.length, 0);
      this.#log.warn(
        { code: 'GW_MODBUS_OVERRUN', device: dev.id, group: group.name, missedPolls: missed.count, intervalMs: group.intervalMs },
        'modbus poll overran its interval; missed polls reported as a gap',
      );
      drafts.push({
        type: 'gap',
        deviceId: dev.id,
        sourceTime: null,
        receivedAt: new Date(this.#deps.clock.now()).toISOString(),
        reason: `poll-overrun: group ${group.name} (every ${group.intervalMs} ms) was still busy; ${missed.count} poll(s) of ${metrics} metric(s) skipped`,
        count: missed.count * metrics,
        fromTime: new Date(missed.from).toISOString(),
        toTime: new Date(missed.to).toISOString(),
      });
    }
    const failures: { request: ReadRequest; error: ModbusRequestError }[] = [];
    // A device whose last poll failed entirely (or that is offline) is suspect: one attempt per request, and
    // once it does not answer, the rest of the poll is not sent. A dead device then costs the bus one timeout
    // per poll instead of (retries + 1) timeouts per request, and the other devices keep their schedule.
    const suspect = device.consecutiveFailures > 0 || device.status === 'offline';
    for (const request of group.requests) {
      const source = `modbus ${this.name} unit ${dev.unitId} ${requestLabel(request)}`;
      if (suspect && failures.some((f) => f.error.kind === 'timeout' || f.error.kind === 'disconnected')) {
        failures.push({ request, error: new ModbusRequestError('timeout', 'not sent: the device did not answer this poll') });
        drafts.push(...this.#filtered(device, badReadings(request, this.#context(dev.id, source))));
        continue;
      }
      try {
        const data = await bus.read(dev.unitId, request, suspect ? { retries: 0 } : {});
        drafts.push(...this.#filtered(device, readingsFromResponse(request, data, this.#context(dev.id, source))));
      } catch (err) {
        const error = err instanceof ModbusRequestError ? err : new ModbusRequestError('invalid-response', errorMessage(err));
        failures.push({ request, error });
        this.#log.debug({ device: dev.id, request: requestLabel(request), err: error.message }, 'modbus request failed');
        drafts.push(...this.#filtered(device, badReadings(request, this.#context(dev.id, source))));
      }
    }
    const seconds = (performance.now() - started) / 1000;
    device.figures.polls += 1;
    device.figures.pollSeconds += seconds;
    device.figures.lastPollSeconds = seconds;
    device.figures.failedReads += failures.length;
    const transition = this.#transition(device, group.requests.length, failures);
    if (transition) drafts.push(transition);
    if (drafts.length === 0) return;
    try {
      await this.#deps.sink.append(drafts);
    } catch (err) {
      this.#log.error({ code: 'GW_BUFFER_WRITE', device: dev.id, err: errorMessage(err) }, 'modbus readings could not be committed');
    }
  }

  #context(deviceId: string, source: string): { deviceId: string; receivedAt: string; source: string } {
    return { deviceId, receivedAt: new Date(this.#deps.clock.now()).toISOString(), source };
  }

  #filtered(device: DeviceState, drafts: Extract<EventDraft, { type: 'reading' }>[]): EventDraft[] {
    const now = this.#deps.clock.now();
    return drafts.filter((d) => {
      const reg = device.registers.get(d.metric);
      return reg === undefined || device.changes.shouldReport(d.metric, reg, d.value, d.quality, now);
    });
  }

  /** The device-status draft when this poll changes the device's status. */
  #transition(device: DeviceState, requestCount: number, failures: { request: ReadRequest; error: ModbusRequestError }[]): EventDraft | undefined {
    const dev = device.config;
    let next: DeviceStatus;
    let reason: string;
    const failureText = (): string => failures.map((f) => `${requestLabel(f.request)}: ${f.error.message}`).join('; ');
    if (failures.length === 0) {
      device.consecutiveFailures = 0;
      next = 'online';
      reason = `unit ${dev.unitId} answered all ${requestCount} request(s)`;
    } else if (failures.length < requestCount) {
      device.consecutiveFailures = 0;
      next = 'degraded';
      reason = `unit ${dev.unitId}: ${failures.length} of ${requestCount} request(s) failed: ${failureText()}`;
    } else {
      device.consecutiveFailures += 1;
      const first = failures[0]?.error.message ?? 'failed';
      if (device.consecutiveFailures >= this.#config.offlineAfter) {
        next = 'offline';
        reason = `unit ${dev.unitId}: ${device.consecutiveFailures} consecutive poll(s) failed: ${first}`;
      } else {
        next = 'degraded';
        reason = `unit ${dev.unitId}: every request failed (${device.consecutiveFailures} of ${this.#config.offlineAfter} before offline): ${failureText()}`;
      }
    }
    if (next === device.status) return undefined;
    const previous = device.status;
    device.status = next;
    const level = next === 'online' ? 'info' : 'warn';
    this.#log[level]({ code: next === 'online' ? undefined : 'GW_MODBUS_REQUEST', device: dev.id, status: next, previous, reason }, 'modbus device status');
    return {
      type: 'device-status',
      deviceId: dev.id,
      sourceTime: null,
      receivedAt: new Date(this.#deps.clock.now()).toISOString(),
      status: next,
      previous,
      reason,
    };
  }
}
