import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { describePlan } from '../config/plan.js';

function checkConfig(options: { config: string; json?: boolean }): void {
  const { config, file, context } = loadConfig(options.config);
  if (options.json) process.stdout.write(`${JSON.stringify({ valid: true, file, config }, null, 2)}\n`);
  else process.stdout.write(`${file}: valid\n\n${describePlan(config, context)}\n`);
}

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description('Validate a config and the driver files it uses without starting anything, and print the plan: inputs, devices, requests, topic routes (exit 0 when valid, 1 with every problem otherwise)')
    .requiredOption('-c, --config <file>', 'gateway YAML config')
    .option('--json', 'print the validated config (defaults filled in, secrets redacted) as JSON')
    .action(checkConfig);
}
