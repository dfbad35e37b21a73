import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { GatewayError, errorMessage } from '../errors.js';
import { Gateway } from '../gateway.js';
import { applyHeapGrowth } from '../service/heap-growth.js';
import { SystemdNotifier } from '../service/notify.js';
import { errorCode } from '../service/reload.js';
import { Watchdog, watchdogIntervalMs } from '../service/watchdog.js';
import { createLogger, type Logger } from '../util/logger.js';
import { fail } from './common.js';

/** Longest wait for the last notification (STOPPING=1) before exiting. */
const NOTIFY_FLUSH_MS = 5000;

async function run(options: { config: string }): Promise<void> {
  // First, before the gateway allocates anything (src/service/heap-growth.ts says why).
  const heapGrowth = applyHeapGrowth();
  const { config, context } = loadConfig(options.config);
  const logger = createLogger(config.logging.level);
  logger.debug({ heapGrowingPercent: heapGrowth.percent, setBy: heapGrowth.source }, 'V8 heap growing factor');
  const notifier = new SystemdNotifier({ logger });
  // Pings start before the gateway does: under systemd the watchdog runs from the moment the process starts.
  const interval = watchdogIntervalMs();
  const watchdog = interval === undefined ? undefined : new Watchdog(notifier, interval, logger);
  await watchdog?.start();

  const gateway = new Gateway({ config, context, logger });
  let started = false;
  let stopping: Promise<void> | undefined;
  let reloads: Promise<void> = Promise.resolve();

  const exit = async (code: number): Promise<never> => {
    await watchdog?.stop();
    await Promise.race([notifier.idle(), new Promise((r) => setTimeout(r, NOTIFY_FLUSH_MS).unref())]);
    process.exit(code);
  };

  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now; everything committed stays buffered');
      process.exit(1);
    }
    logger.info({ signal }, 'stopping');
    void notifier.notify({ STOPPING: '1', STATUS: 'stopping: committing and draining to Kafka' });
    // A reload in progress finishes first, so stop() sees the final set of inputs.
    stopping = reloads
      .then(() => gateway.stop())
      .then(
        () => exit(0),
        (err: unknown) => {
          logger.fatal({ err: errorMessage(err) }, 'stop failed');
          return exit(1);
        },
      );
  };

  let reloadRequestedWhileStarting = false;
  const reload = async (): Promise<void> => {
    if (stopping) return;
    if (!started) {
      reloadRequestedWhileStarting = true;
      return;
    }
    logger.info({ config: options.config }, 'reloading configuration');
    await notifier.notify({ RELOADING: '1', STATUS: 'reloading configuration' });
    let loaded: LoadedConfig;
    try {
      loaded = loadConfig(options.config);
    } catch (err) {
      logReloadRejected(logger, err);
      await notifier.notify({ READY: '1', STATUS: `reload rejected (${errorCode(err) ?? 'error'}); running the previous configuration` });
      return;
    }
    try {
      if (!process.env.LOG_LEVEL) logger.level = loaded.config.logging.level;
      const result = await gateway.reload(loaded.config, loaded.context);
      if (result.restartRequired.length > 0) {
        logger.warn(
          { code: 'GW_RELOAD_NEEDS_RESTART', paths: result.restartRequired },
          `config changes need a restart and were not applied: ${result.restartRequired.join(', ')}`,
        );
      }
      logger.info(result, 'configuration reloaded');
      const failed = result.failed.length > 0 ? `; ${result.failed.length} input(s) failed to start` : '';
      await notifier.notify({ READY: '1', STATUS: `running ${gateway.inputs.length} input(s)${failed}` });
    } catch (err) {
      logger.error({ code: errorCode(err), err: errorMessage(err) }, 'reload failed');
      await notifier.notify({ READY: '1', STATUS: 'reload failed; see the log' });
    }
  };

  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // systemctl reload: the unit's ExecReload sends SIGHUP. Reloads queue up and run one at a time.
  process.on('SIGHUP', () => {
    reloads = reloads.then(reload, reload);
  });
  try {
    await gateway.start();
  } catch (err) {
    logger.fatal({ code: err instanceof GatewayError ? err.code : undefined, err: errorMessage(err) }, 'gateway failed to start');
    await watchdog?.stop();
    await gateway.stop().catch(() => undefined);
    fail(err);
  }
  started = true;
  // READY=1 only now: the buffer is open and every input has started.
  await notifier.notify({ READY: '1', STATUS: `running ${gateway.inputs.length} input(s)` });
  if (reloadRequestedWhileStarting) reloads = reloads.then(reload, reload);
}

/** One log line per problem (each with the code), then a summary: `journalctl -u` shows exactly what to fix. */
function logReloadRejected(logger: Logger, err: unknown): void {
  const code = errorCode(err);
  const details = err instanceof GatewayError ? err.details : [];
  for (const detail of details) logger.error({ code, detail }, `reload rejected: ${detail}`);
  const notes = err instanceof GatewayError ? err.notes : [];
  logger.error({ code, err: errorMessage(err), details, ...(notes.length > 0 ? { notes } : {}) }, 'config reload rejected; the previous configuration keeps running');
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'Run the gateway until SIGTERM/SIGINT (then: stop inputs, commit, drain to Kafka within shutdown.drainTimeout, exit 0); ' +
        'SIGHUP reloads the config and driver files; under systemd (Type=notify) it reports READY/RELOADING/STOPPING and pings the watchdog',
    )
    .requiredOption('-c, --config <file>', 'gateway YAML config (see config/gateway.example.yaml)')
    .action(run);
}
