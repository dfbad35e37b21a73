import type { Command } from 'commander';
import { registerCheckConfig } from './check-config.js';
import { registerRun } from './run.js';
import { registerSimulate } from './simulate.js';

/** Every subcommand of telemetry-gateway, in the order `--help` lists them. One line per command. */
export const COMMANDS: readonly ((program: Command) => void)[] = [registerRun, registerCheckConfig, registerSimulate];
