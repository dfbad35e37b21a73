import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { describePlan } from '../config/plan.js';
import { loadLibrdkafka } from '../forwarder/librdkafka-transport.js';

function checkConfig(options: { config: string; json?: boolean }): void {
  const { config, file, context } = loadConfig(options.config);
  // A config that names a client this machine cannot load is not runnable: GW_KAFKA_CLIENT with the fix.
  if (config.kafka.client === 'librdkafka') loadLibrdkafka();
  if (options.json) process.stdout.write(`${JSON.stringify({ valid: true, file, config }, null, 2)}\n`);
  else process.stdout.write(`${file}: valid\n\n${describePlan(config, context)}\n`);
}

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description('Validate a config and the driver files it uses without starting anything, and print the plan: inputs, devices, requests, topic routes, the Kafka client and its version (exit 0 when valid, 1 with every problem otherwise)')
    .requiredOption('-c, --config <file>', 'gateway YAML config')
    .option('--json', 'print the validated config (defaults filled in, secrets redacted) as JSON')
    .action(checkConfig);
}
