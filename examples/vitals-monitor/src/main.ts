/**
 * vitals-monitor: node dist/examples/vitals-monitor/main.js --config examples/vitals-monitor/vitals-monitor.yaml
 * Logs one JSON object per line to stdout. SIGTERM/SIGINT: finish the batch in progress, commit, exit 0.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from './config.js';
import { VitalsMonitor, type Log } from './monitor.js';

const log: Log = (level, msg, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
};

const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
if (values.help || !values.config) {
  process.stderr.write('usage: vitals-monitor --config vitals-monitor.yaml\n');
  process.exit(values.help ? 0 : 64);
}

let monitor: VitalsMonitor;
try {
  monitor = new VitalsMonitor(loadConfig(values.config), log);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
let stopping = false;
const stop = (): void => {
  if (stopping) process.exit(1);
  stopping = true;
  void monitor.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
try {
  await monitor.start();
} catch (err) {
  log('error', 'vitals-monitor failed to start', { err: (err as Error).message });
  await monitor.stop().catch(() => undefined);
  process.exit(1);
}
