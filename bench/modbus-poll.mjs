// Modbus polling benchmark: 100 simulated devices × 20 registers at 1 Hz over Modbus TCP, read by the gateway's
// Modbus input into the real SQLite buffer (synchronous=FULL). The simulator runs in a child process so the
// figures are the gateway side only. Two layouts, both 100 req/s in total:
//   one-bus   one Modbus TCP gateway in front of 100 unit ids: one input, strictly serialized requests
//   per-device 100 Modbus TCP devices: 100 inputs, one connection each
// Reports requests/s, readings/s, CPU % of one core (user+system of this process), poll start jitter (p50/p99/max,
// the lag between a poll's due time and its start), "done" (due time → every request answered and the readings
// handed to the buffer; on one bus this includes waiting for the other devices' requests), failed requests, overruns.
//
//   npm run build && node bench/modbus-poll.mjs [--devices 100] [--registers 20] [--seconds 30] [--warmup 5] [--layout one-bus|per-device|both]
import { fork } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const load = (file) => import(pathToFileURL(join(root, 'dist', file)).href);
const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '100' },
    registers: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    layout: { type: 'string', default: 'both' },
    serve: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const DEVICES = Number(args.devices);
const REGISTERS = Number(args.registers);

/** A driver of N holding registers: float32 pairs (ABCD) and, for an odd rest, one int16; one request per poll. */
function benchDriver(registers) {
  const regs = [];
  for (let a = 0; a + 1 < registers; a += 2) regs.push({ metric: `f${a}`, table: 'holding', address: a, type: 'float32', unit: 'W', simulate: { base: 100 + a, amplitude: 10, period: '30s', noise: 0.5 } });
  if (registers % 2 === 1) regs.push({ metric: `i${registers - 1}`, table: 'holding', address: registers - 1, type: 'int16', simulate: { base: 42, noise: 3 } });
  return { kind: 'modbus', model: `bench-${registers}`, registers: regs };
}

if (args.serve !== undefined) {
  // Child: the simulator, serving every unit id 1..DEVICES on one port.
  const { ModbusSimulator } = await load('simulators/modbus.js');
  const { ModbusDriverSchema } = await load('inputs/modbus/driver.js');
  const driver = ModbusDriverSchema.parse(benchDriver(REGISTERS));
  const sim = new ModbusSimulator({ units: Array.from({ length: DEVICES }, (_, i) => ({ unitId: i + 1, driver })), port: Number(args.serve) || 0, recordRequests: false });
  await sim.start();
  process.send?.({ port: sim.port });
  process.on('message', async (m) => {
    if (m === 'count') process.send?.({ served: sim.servedCount });
    if (m === 'stop') {
      await sim.stop();
      process.exit(0);
    }
  });
} else {
  await main();
}

async function main() {
  const { SqliteBuffer } = await load('buffer/sqlite-buffer.js');
  const { ModbusInput } = await load('inputs/modbus/modbus-input.js');
  const { ModbusInputConfig } = await load('inputs/modbus/config.js');
  const { driverSearchPaths } = await load('drivers/driver-files.js');
  const { createLogger } = await load('util/logger.js');
  const tmp = mkdtempSync(join(os.tmpdir(), 'etg-bench-modbus-'));
  mkdirSync(join(tmp, 'devices'));
  writeFileSync(join(tmp, 'devices', 'bench.yaml'), stringify(benchDriver(REGISTERS)));

  const layouts = args.layout === 'both' ? ['one-bus', 'per-device'] : [args.layout];
  const results = [];
  for (const layout of layouts) {
    const server = fork(fileURLToPath(import.meta.url), ['--serve', '0', '--devices', String(DEVICES), '--registers', String(REGISTERS)], { stdio: 'inherit' });
    const { port } = await new Promise((r) => server.once('message', r));
    const served = () =>
      new Promise((r) => {
        server.once('message', (m) => r(m.served));
        server.send('count');
      });

    const clock = { now: () => Date.now() };
    const buffer = new SqliteBuffer({
      path: join(tmp, `${layout}.db`),
      gatewayId: 'bench',
      synchronous: 'FULL',
      commitLingerMs: 2,
      maxEventsPerCommit: 5000,
      maxEvents: 50_000_000,
      maxBytes: 8 * 1024 ** 3,
      whenFull: 'drop-oldest',
      retentionMs: 0,
      retentionMaxBytes: 0,
      clock,
    });
    buffer.open();
    const deps = { gatewayId: 'bench', sink: buffer, logger: createLogger('warn'), clock, configDir: tmp, driverSearchPaths: driverSearchPaths(tmp) };
    const device = (i) => ({ id: `dev-${i + 1}`, driver: 'bench', unitId: i + 1, pollInterval: '1s' });
    const base = { type: 'modbus', transport: { kind: 'tcp', host: '127.0.0.1', port }, timeout: '1s' };
    const configs =
      layout === 'one-bus'
        ? [{ ...base, name: 'bus', devices: Array.from({ length: DEVICES }, (_, i) => device(i)) }]
        : Array.from({ length: DEVICES }, (_, i) => ({ ...base, name: `dev-${i + 1}`, devices: [device(i)] }));
    const inputs = configs.map((c) => new ModbusInput(ModbusInputConfig.parse(c), deps));
    await Promise.all(inputs.map((input) => input.start()));

    await new Promise((r) => setTimeout(r, Number(args.warmup) * 1000));
    const sum = (f) => inputs.reduce((n, input) => n + f(input.stats), 0);
    const start = {
      at: performance.now(),
      cpu: process.cpuUsage(),
      requests: sum((s) => s.requests),
      failed: sum((s) => s.failedRequests),
      overruns: sum((s) => s.overruns),
      lags: inputs.map((input) => input.stats.recentLagMs.length),
      completions: inputs.map((input) => input.stats.recentCompletionMs.length),
      served: await served(),
    };
    await new Promise((r) => setTimeout(r, Number(args.seconds) * 1000));
    const seconds = (performance.now() - start.at) / 1000;
    const cpu = process.cpuUsage(start.cpu);
    const lags = inputs.flatMap((input, i) => input.stats.recentLagMs.slice(start.lags[i])).sort((a, b) => a - b);
    const completions = inputs.flatMap((input, i) => input.stats.recentCompletionMs.slice(start.completions[i])).sort((a, b) => a - b);
    const pctOf = (values, p) => values[Math.min(values.length - 1, Math.floor((p / 100) * values.length))] ?? 0;
    const pct = (p) => pctOf(lags, p);
    const requests = sum((s) => s.requests) - start.requests;
    const servedCount = (await served()) - start.served;
    results.push({
      layout,
      inputs: inputs.length,
      'requests/s': (requests / seconds).toFixed(1),
      'served/s': (servedCount / seconds).toFixed(1),
      'readings/s': ((requests * Math.ceil(REGISTERS / 2)) / seconds).toFixed(0),
      'cpu %': (((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100).toFixed(1),
      'jitter p50 ms': pct(50),
      'jitter p99 ms': pct(99),
      'jitter max ms': lags.at(-1) ?? 0,
      'done p50 ms': pctOf(completions, 50),
      'done p99 ms': pctOf(completions, 99),
      failed: sum((s) => s.failedRequests) - start.failed,
      overruns: sum((s) => s.overruns) - start.overruns,
    });
    await Promise.all(inputs.map((input) => input.stop()));
    buffer.close();
    server.send('stop');
    await new Promise((r) => server.once('exit', r));
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify(results)}\n`);
    process.exit(0);
  }
  const cpus = os.cpus();
  process.stdout.write(
    `Modbus polling: ${DEVICES} simulated devices × ${REGISTERS} registers at 1 Hz over Modbus TCP, ${args.seconds} s measured after ${args.warmup} s warm-up\n` +
      `node ${process.version}, ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, SQLite buffer synchronous=FULL, simulator in a child process\n`,
  );
  console.table(results);
}
