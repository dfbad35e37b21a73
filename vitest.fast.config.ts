import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The fast part of the suite: unit tests, golden cases, the native modules (SQLite buffer, serial on real
 * pseudo-terminals) and MQTT → Kafka end to end. `npm test` runs it on Node 24 LTS after the whole suite ran on
 * the machine's Node 20 (scripts/test-node24.mjs); `npx vitest run --config vitest.fast.config.ts` runs it on any
 * Node. A listed file that does not exist fails test/node-runtime.test.ts.
 */
export const FAST_TESTS = [
  // unit
  'test/audit-checker.test.ts',
  'test/config.test.ts',
  'test/errors.test.ts',
  'test/forwarder.test.ts',
  'test/mapping.test.ts',
  'test/modbus-decode.test.ts',
  'test/modbus-planner.test.ts',
  'test/mqtt-formats.test.ts',
  'test/node-runtime.test.ts',
  'test/observability-unit.test.ts',
  'test/replay-units.test.ts',
  'test/security-unit.test.ts',
  'test/serial-framing.test.ts',
  'test/vitals-monitor-rules.test.ts',
  // native modules: better-sqlite3 (buffer), @serialport/bindings-cpp (pseudo-terminals)
  'test/buffer.test.ts',
  'test/serial-pty.test.ts',
  // golden cases (test/cases/<family>/<name>)
  'test/mqtt-formats-golden.test.ts',
  'test/serial-golden.test.ts',
  // end to end with the real brokers
  'test/e2e-mqtt-kafka.test.ts',
];

export default defineConfig({ test: { ...base.test, include: FAST_TESTS } });
