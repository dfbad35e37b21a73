import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { describePlan } from '../config/plan.js';
import { GatewayError } from '../errors.js';
import type { ProbeReport } from '../inputs/input.js';
import { familyOf } from '../inputs/registry.js';
import { systemClock } from '../util/clock.js';
import { parseDuration } from '../util/duration.js';
import { loadLibrdkafka } from '../forwarder/librdkafka-transport.js';

interface CheckConfigOptions {
  config: string;
  json?: boolean;
  probe?: boolean;
  probeTimeout: string;
  probeQueue?: string;
}

const MARK = { ok: 'ok  ', info: '    ', warn: 'WARN', error: 'FAIL' } as const;

async function checkConfig(options: CheckConfigOptions): Promise<void> {
  const probing = options.probe === true || options.probeQueue !== undefined;
  const timeoutMs = parseDuration(options.probeTimeout);
  if (timeoutMs === undefined || timeoutMs <= 0) throw new GatewayError('GW_USAGE', `--probe-timeout ${options.probeTimeout}: expected a duration like 12s`);
  const queueMessages = options.probeQueue === undefined ? undefined : Number(options.probeQueue);
  if (queueMessages !== undefined && !(Number.isInteger(queueMessages) && queueMessages >= 1 && queueMessages <= 1_000_000)) {
    throw new GatewayError('GW_USAGE', `--probe-queue ${options.probeQueue}: expected a number of messages from 1 to 1000000 (e.g. 5000)`);
  }
  const { config, file, context } = loadConfig(options.config);
  // A config that names a client this machine cannot load is not runnable: GW_KAFKA_CLIENT with the fix.
  const librdkafkaVersion = config.kafka.client === 'librdkafka' ? loadLibrdkafka().librdkafkaVersion : undefined;
  const reports: ProbeReport[] = [];
  if (probing) {
    for (const input of config.inputs) {
      const probe = familyOf(input).probe;
      if (probe) reports.push(await probe(input, { ...context, gatewayId: config.gateway.id }, { timeoutMs, clock: systemClock, ...(queueMessages === undefined ? {} : { queueMessages }) }));
    }
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ valid: true, file, config, ...(probing ? { probe: reports } : {}) }, null, 2)}\n`);
  } else {
    process.stdout.write(`${file}: valid\n\n${describePlan(config, context, { librdkafkaVersion })}\n`);
    if (probing) {
      process.stdout.write(`\nprobe${reports.length === 0 ? ': no input to probe (only MQTT inputs are probed)' : ''}\n`);
      for (const r of reports) {
        process.stdout.write(`  ${r.input}\n`);
        for (const l of r.lines) process.stdout.write(`    ${MARK[l.level]} ${l.code ? `${l.code}: ` : ''}${l.text}\n`);
      }
    }
  }
  if (reports.some((r) => !r.reachable || r.lines.some((l) => l.level === 'error'))) process.exitCode = 1;
}

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description(
      'Validate a config and the driver files it uses without starting anything, and print the plan: inputs, devices, requests, topic routes, the Kafka client and its version (exit 0 when valid, 1 with every problem otherwise). With --probe, also connect to each MQTT broker and report its limits that decide whether it can drop messages (exit 1 when a broker cannot be reached or loses messages)',
    )
    .requiredOption('-c, --config <file>', 'gateway YAML config')
    .option('--json', 'print the validated config (defaults filled in, secrets redacted) as JSON, with the probe results under "probe"')
    .option('--probe', "connect to each MQTT input's broker (throw-away client id, the input's login and TLS) and report session expiry, windows, version and drop counter")
    .option('--probe-timeout <duration>', 'how long to wait for a connection and for the broker\'s $SYS statistics', '12s')
    .option('--probe-queue <messages>', "implies --probe: measure the broker's queue per client by publishing this many QoS 1 messages to etg-probe/<gateway id>/… for a session that is away (a bounded queue drops the excess: a running gateway's drop monitor sees that too)")
    .action(checkConfig);
}
