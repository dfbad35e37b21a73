import { createLogger } from '../../src/util/logger.js';
import { systemClock } from '../../src/util/clock.js';
import { driverSearchPaths, loadDriverFile, SHIPPED_DRIVERS_DIR } from '../../src/drivers/driver-files.js';
import type { EventDraft } from '../../src/events/schema.js';
import type { IngestSink } from '../../src/inputs/input.js';
import { ModbusInputConfig } from '../../src/inputs/modbus/config.js';
import { ModbusDriverSchema, type ModbusDriver } from '../../src/inputs/modbus/driver.js';
import { ModbusInput } from '../../src/inputs/modbus/modbus-input.js';
import { noReceipts } from './receipts.js';

export type ReadingDraft = Extract<EventDraft, { type: 'reading' }>;
export type StatusDraft = Extract<EventDraft, { type: 'device-status' }>;
export type GapDraft = Extract<EventDraft, { type: 'gap' }>;

/** The buffer seam of an input, recording every append call (one call per poll is part of the contract). */
export class RecordingSink implements IngestSink {
  readonly batches: EventDraft[][] = [];

  append(drafts: readonly EventDraft[]): Promise<void> {
    this.batches.push([...drafts]);
    return Promise.resolve();
  }

  flush(): void {}

  get drafts(): EventDraft[] {
    return this.batches.flat();
  }

  readings(deviceId?: string, metric?: string): ReadingDraft[] {
    return this.drafts.filter((d): d is ReadingDraft => d.type === 'reading' && (deviceId === undefined || d.deviceId === deviceId) && (metric === undefined || d.metric === metric));
  }

  statuses(deviceId: string): StatusDraft[] {
    return this.drafts.filter((d): d is StatusDraft => d.type === 'device-status' && d.deviceId === deviceId);
  }

  gaps(deviceId?: string): GapDraft[] {
    return this.drafts.filter((d): d is GapDraft => d.type === 'gap' && (deviceId === undefined || d.deviceId === deviceId));
  }

  /** Poll batches of one device that contain the given metric (one per poll of that metric's group). */
  pollsWith(deviceId: string, metric: string): EventDraft[][] {
    return this.batches.filter((b) => b.some((d) => d.type === 'reading' && d.deviceId === deviceId && d.metric === metric));
  }
}

export function shippedDriver(name: string): ModbusDriver {
  return loadDriverFile(name, ModbusDriverSchema, [SHIPPED_DRIVERS_DIR], SHIPPED_DRIVERS_DIR).driver;
}

/** A Modbus input wired to a recording sink, with the shipped drivers. `raw` is the input's config as in YAML. */
export function modbusInput(raw: Record<string, unknown>): { input: ModbusInput; sink: RecordingSink } {
  const config = ModbusInputConfig.parse({ type: 'modbus', name: 'bus', ...raw });
  const sink = new RecordingSink();
  const input = new ModbusInput(config, {
    gatewayId: 'test',
    sink,
    receipts: noReceipts,
    logger: createLogger(process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'silent'),
    clock: systemClock,
    configDir: SHIPPED_DRIVERS_DIR,
    driverSearchPaths: driverSearchPaths(SHIPPED_DRIVERS_DIR),
  });
  return { input, sink };
}
