#!/usr/bin/env node
/**
 * telemetry-gateway: the command line. Every command has --help; errors print their stable code and exit non-zero.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { loadConfig } from './config/load.js';
import { describePlan } from './config/plan.js';
import { GatewayError, errorMessage } from './errors.js';
import { Gateway } from './gateway.js';
import { createLogger } from './util/logger.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

function fail(err: unknown): never {
  if (err instanceof GatewayError) process.stderr.write(`${err.format()}\n`);
  else process.stderr.write(`error: ${errorMessage(err)}\n`);
  process.exit(err instanceof GatewayError && err.code === 'GW_USAGE' ? 64 : 1);
}

async function run(options: { config: string }): Promise<void> {
  const { config } = loadConfig(options.config);
  const logger = createLogger(config.logging.level);
  const gateway = new Gateway({ config, logger });
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now; everything committed stays buffered');
      process.exit(1);
    }
    logger.info({ signal }, 'stopping');
    stopping = gateway.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.fatal({ err: errorMessage(err) }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  try {
    await gateway.start();
  } catch (err) {
    logger.fatal({ code: err instanceof GatewayError ? err.code : undefined, err: errorMessage(err) }, 'gateway failed to start');
    await gateway.stop().catch(() => undefined);
    fail(err);
  }
}

function checkConfig(options: { config: string; json?: boolean }): void {
  const { config, file } = loadConfig(options.config);
  if (options.json) process.stdout.write(`${JSON.stringify({ valid: true, file, config }, null, 2)}\n`);
  else process.stdout.write(`${file}: valid\n\n${describePlan(config)}\n`);
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('telemetry-gateway')
    .description('Reads devices over serial, Modbus and MQTT, buffers every event durably in SQLite and forwards it to Apache Kafka.')
    .version(pkg.version, '-v, --version')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('run')
    .description('Run the gateway until SIGTERM/SIGINT (then: stop inputs, commit, drain to Kafka within shutdown.drainTimeout, exit 0)')
    .requiredOption('-c, --config <file>', 'gateway YAML config (see config/gateway.example.yaml)')
    .action(run);

  program
    .command('check-config')
    .description('Validate a config without starting anything and print the plan: inputs, subscriptions, topic routes (exit 0 when valid, 1 with every problem otherwise)')
    .requiredOption('-c, --config <file>', 'gateway YAML config')
    .option('--json', 'print the validated config (defaults filled in, secrets redacted) as JSON')
    .action(checkConfig);

  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) process.exit(0);
      process.exit(64);
    }
    fail(err);
  }
}

await main();
