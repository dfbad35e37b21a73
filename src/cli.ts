#!/usr/bin/env node
/**
 * telemetry-gateway: the command line. Every command has --help; errors print their stable code and exit non-zero.
 * Commands live in src/commands/, one file each.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { COMMANDS } from './commands/index.js';
import { fail } from './commands/common.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('telemetry-gateway')
    .description('Reads devices over MQTT, Modbus, serial lines and HL7 v2 / MLLP, buffers every event durably in SQLite and forwards it to Apache Kafka.')
    .version(pkg.version, '-v, --version')
    .showHelpAfterError()
    .exitOverride();
  for (const register of COMMANDS) register(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 64);
  fail(err);
}
