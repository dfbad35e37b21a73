import type { Command } from 'commander';
import { registerAudit } from './audit.js';
import { registerBuffer } from './buffer.js';
import { registerCheckConfig } from './check-config.js';
import { registerReplay } from './replay.js';
import { registerRun } from './run.js';
import { registerSchemas } from './schemas.js';
import { registerSimulate } from './simulate.js';
import { registerTail } from './tail.js';

/** Every subcommand of telemetry-gateway, in the order `--help` lists them. One line per command. */
export const COMMANDS: readonly ((program: Command) => void)[] = [registerRun, registerCheckConfig, registerSimulate, registerTail, registerReplay, registerBuffer, registerAudit, registerSchemas];
