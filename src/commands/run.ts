import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { GatewayError, errorMessage } from '../errors.js';
import { Gateway } from '../gateway.js';
import { createLogger } from '../util/logger.js';
import { fail } from './common.js';

async function run(options: { config: string }): Promise<void> {
  const { config, context } = loadConfig(options.config);
  const logger = createLogger(config.logging.level);
  const gateway = new Gateway({ config, context, logger });
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

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('Run the gateway until SIGTERM/SIGINT (then: stop inputs, commit, drain to Kafka within shutdown.drainTimeout, exit 0)')
    .requiredOption('-c, --config <file>', 'gateway YAML config (see config/gateway.example.yaml)')
    .action(run);
}
