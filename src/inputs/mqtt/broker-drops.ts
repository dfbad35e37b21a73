/**
 * Watches what the MQTT broker says about messages it dropped.
 *
 * A broker that cannot queue more for a slow or absent subscriber discards QoS 1 messages it already acknowledged
 * to their publisher (Mosquitto beyond `max_queued_messages`, 1,000 by default; EMQX beyond `max_mqueue_len`).
 * The gateway never receives them, so no seq hole and no gap event can show it: only the broker knows. Brokers
 * that publish a statistics tree say how many they dropped, broker-wide, without saying which:
 *
 * - Mosquitto: `$SYS/broker/publish/messages/dropped`, a counter since the broker started, published (retained,
 *   expiring after 60 s) every `sys_interval` (10 s) in which it changed; `$SYS/broker/load/publish/dropped/15min`,
 *   a 15-minute average of drops per minute, republished every interval while it decays, so drops while the
 *   gateway was away are still visible for a while after it reconnects; `$SYS/broker/uptime` every interval.
 * - EMQX: `$SYS/brokers/<node>/metrics/delivery/dropped/queue_full` per node, every `sys_interval` (1 min).
 *
 * The monitor subscribes to them (QoS 0, beside the input's own subscriptions), turns a counter that grew (or a
 * first report above zero, or a recent drop rate above zero at first sight) into a problem that keeps the gateway
 * `degraded` for `degradedFor` after the last growth, logs GW_MQTT_BROKER_DROPPED, and exports the counter. A
 * broker that publishes none of it (HiveMQ without an extension, or an ACL that denies `$SYS`) is logged once as
 * GW_MQTT_DROPS_UNMONITORED. The counts are broker-wide: they may include messages for other slow clients.
 */
import { z } from 'zod';
import { errorMessage } from '../../errors.js';
import { Duration } from '../../config/primitives.js';
import type { Clock } from '../../util/clock.js';
import type { Lifecycle } from '../../util/lifecycle.js';
import type { Logger } from '../../util/logger.js';
import type { InputMetric, InputProblem } from '../input.js';
import { topicMatches } from './topic-filter.js';

/** Cumulative counts of dropped QoS > 0 messages: Mosquitto 1.x/2.x, EMQX 4/5 (one per node). */
export const DEFAULT_DROP_COUNTER_TOPICS: readonly string[] = ['$SYS/broker/publish/messages/dropped', '$SYS/brokers/+/metrics/delivery/dropped/queue_full'];
/** Mosquitto's recent drop rate (per minute, 15-minute average). */
const RECENT_DROP_RATE_TOPICS: readonly string[] = ['$SYS/broker/load/publish/dropped/15min'];
/** Published every statistics interval: proof that the broker's statistics reach the gateway at all. */
const HEARTBEAT_TOPICS: readonly string[] = ['$SYS/broker/uptime', '$SYS/brokers/+/uptime'];
/** EMQX publishes its statistics once a minute by default: give it two intervals and some. */
const UNMONITORED_AFTER_MS = 150_000;

export const BrokerDropsConfig = z
  .object({
    monitor: z.boolean().default(true).describe('Subscribe to the broker\'s $SYS drop statistics; drops make the gateway degraded'),
    counterTopics: z
      .array(z.string().min(1))
      .min(1)
      .default([...DEFAULT_DROP_COUNTER_TOPICS])
      .describe('Topics whose payload is the broker\'s cumulative count of dropped QoS 1/2 messages (defaults: Mosquitto, EMQX)'),
    degradedFor: Duration.default(900_000).describe('How long the gateway stays degraded after the broker last reported a drop'),
  })
  .strict();
export type BrokerDropsConfigT = z.infer<typeof BrokerDropsConfig>;
export const BROKER_DROPS_DEFAULTS: BrokerDropsConfigT = { monitor: true, counterTopics: [...DEFAULT_DROP_COUNTER_TOPICS], degradedFor: 900_000 };

/** The slice of an MQTT.js client the monitor uses. */
export interface DropTopicsClient {
  subscribe(topics: Record<string, { qos: 0 }>, callback: (err: Error | null, granted?: readonly { topic: string; qos: number }[]) => void): unknown;
}

export interface BrokerDropMonitorOptions {
  input: string;
  url: string;
  logger: Logger;
  clock: Clock;
  /** Runs `fn` once after `ms` and returns a cancel function (a seam for tests; default: an unref'd setTimeout). */
  schedule?: (fn: () => void, ms: number) => () => void;
}

function scheduleTimeout(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

type Role = 'counter' | 'rate' | 'heartbeat';

interface DropProblem {
  since: number;
  lastSeen: number;
  /** Drops the broker reported while this problem lasted; undefined while only a rate is known. */
  count: number | undefined;
  /** Part of it reported at first sight, so possibly before this gateway connected. */
  firstSight: boolean;
  /** Mosquitto's 15-minute drop rate when only that is known. */
  ratePerMinute: number | undefined;
}

export class BrokerDropMonitor implements Lifecycle {
  readonly #config: BrokerDropsConfigT;
  readonly #options: BrokerDropMonitorOptions;
  readonly #log: Logger;
  readonly #filters: { role: Role; filter: string; levels: readonly string[] }[];
  /** Last value per concrete counter topic (one per EMQX node). */
  readonly #counters = new Map<string, number>();
  #rateSeen = false;
  #statsSeen = false;
  #unmonitoredLogged = false;
  #problem: DropProblem | undefined;
  /** Every filter is a `$` topic (the defaults): device topics are told apart by their first character alone. */
  readonly #onlySysTopics: boolean;
  #cancelTimer: (() => void) | undefined;

  constructor(config: BrokerDropsConfigT, options: BrokerDropMonitorOptions) {
    this.#config = config;
    this.#options = options;
    this.#log = options.logger;
    const entries: [Role, readonly string[]][] = [
      ['counter', config.counterTopics],
      ['rate', RECENT_DROP_RATE_TOPICS],
      ['heartbeat', HEARTBEAT_TOPICS],
    ];
    this.#filters = config.monitor ? entries.flatMap(([role, filters]) => filters.map((filter) => ({ role, filter, levels: filter.split('/') }))) : [];
    this.#onlySysTopics = this.#filters.every((f) => f.filter.startsWith('$'));
  }

  /** Every filter the monitor subscribes to. */
  get topics(): string[] {
    return this.#filters.map((f) => f.filter);
  }

  /** Subscribes on a (re)connected client; says once if the broker's statistics never arrive. */
  attach(client: DropTopicsClient): void {
    if (this.#filters.length === 0) return;
    this.#statsSeen = false;
    const topics = Object.fromEntries(this.#filters.map((f) => [f.filter, { qos: 0 as const }]));
    client.subscribe(topics, (err, granted) => {
      if (err) {
        this.#unmonitored(`subscribing to the broker's statistics failed: ${errorMessage(err)}`);
        return;
      }
      const refused = (granted ?? []).filter((g) => g.qos >= 128).map((g) => g.topic);
      const counters = new Set(this.#config.counterTopics);
      if (refused.length > 0 && refused.filter((t) => counters.has(t)).length === counters.size) {
        this.#unmonitored(`the broker refused the subscriptions ${refused.join(', ')} (an ACL denies $SYS to this user)`);
      }
    });
    this.#cancelTimer?.();
    this.#cancelTimer = (this.#options.schedule ?? scheduleTimeout)(() => {
      if (!this.#statsSeen) this.#unmonitored(`no statistics arrived on ${this.topics.join(', ')} within ${UNMONITORED_AFTER_MS / 1000} s`);
    }, UNMONITORED_AFTER_MS);
  }

  /**
   * Nothing to acquire: watching begins with attach() on each (re)connected client. Here so the input starts and
   * stops its monitor the way it starts and stops everything else.
   */
  async start(): Promise<void> {}

  /** Cancels the wait for the broker's first statistics. */
  async stop(): Promise<void> {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
  }

  /** True when the topic is one of the broker statistics the monitor reads (not an event source). On the hot path. */
  takes(topic: string): boolean {
    if (this.#onlySysTopics && !topic.startsWith('$')) return false;
    return this.#roleOf(topic) !== undefined;
  }

  /** One statistics message. Never throws: what cannot be read is logged at debug level and ignored. */
  observe(topic: string, payload: Buffer): void {
    const role = this.#roleOf(topic);
    if (role === undefined) return;
    this.#statsSeen = true;
    if (role === 'heartbeat') return;
    const text = payload.toString('utf8').trim();
    const value = Number(text);
    if (text === '' || !Number.isFinite(value) || value < 0) {
      this.#log.debug({ topic, payload: text.slice(0, 64) }, 'ignoring a broker statistics message that is not a number');
      return;
    }
    if (role === 'rate') {
      // Only the first sight matters: it reveals drops from before this gateway connected (the counter itself
      // is republished only when it changes, and its retained copy expires after 60 s).
      if (this.#rateSeen) return;
      this.#rateSeen = true;
      if (value > 0 && this.#counters.size === 0 && this.#problem === undefined) {
        const now = this.#options.clock.now();
        this.#problem = { since: now, lastSeen: now, count: undefined, firstSight: true, ratePerMinute: value };
        this.#log.warn(
          { code: 'GW_MQTT_BROKER_DROPPED', input: this.#options.input, topic, dropsPerMinute: value },
          'the MQTT broker dropped messages recently (its 15-minute drop rate is above zero), possibly messages for this gateway while it was away: they are lost; see docs/raspberry-pi.md',
        );
      }
      return;
    }
    const previous = this.#counters.get(topic);
    this.#counters.set(topic, value);
    // A counter below its previous value: that broker (node) restarted and counts from zero again.
    const dropped = previous === undefined || value < previous ? value : value - previous;
    if (dropped > 0) this.#dropped(topic, dropped, previous === undefined);
  }

  #dropped(topic: string, dropped: number, firstSight: boolean): void {
    const now = this.#options.clock.now();
    const problem = this.#current(now);
    if (problem) {
      problem.count = (problem.count ?? 0) + dropped;
      problem.lastSeen = now;
      problem.firstSight ||= firstSight;
    } else {
      this.#problem = { since: now, lastSeen: now, count: dropped, firstSight, ratePerMinute: undefined };
    }
    this.#log.warn(
      { code: 'GW_MQTT_BROKER_DROPPED', input: this.#options.input, topic, dropped, brokerTotal: this.reportedDrops, firstReport: firstSight },
      firstSight
        ? 'the MQTT broker reports dropped QoS 1/2 messages (first report since this gateway connected: some may predate it); messages it dropped for this gateway are lost; see docs/raspberry-pi.md'
        : 'the MQTT broker dropped QoS 1/2 messages (its queue for a slow or absent client was full); messages it dropped for this gateway are lost; see docs/raspberry-pi.md',
    );
  }

  #current(now: number): DropProblem | undefined {
    if (this.#problem && now - this.#problem.lastSeen >= this.#config.degradedFor) this.#problem = undefined;
    return this.#problem;
  }

  #unmonitored(why: string): void {
    if (this.#unmonitoredLogged) return;
    this.#unmonitoredLogged = true;
    this.#log.warn(
      { code: 'GW_MQTT_DROPS_UNMONITORED', input: this.#options.input, url: this.#options.url, reason: why },
      'cannot watch the MQTT broker for dropped messages: if it drops messages for this gateway, nothing will show it; allow this user to read $SYS, or set brokerDrops.counterTopics (docs/raspberry-pi.md)',
    );
  }

  #roleOf(topic: string): Role | undefined {
    return this.#filters.find((f) => topicMatches(f.levels, topic))?.role;
  }

  /** Sum of the brokers' cumulative drop counters as last reported (0 until one reports). */
  get reportedDrops(): number {
    let total = 0;
    for (const n of this.#counters.values()) total += n;
    return total;
  }

  metrics(): InputMetric[] {
    if (this.#filters.length === 0) return [];
    return [
      {
        name: 'mqtt_broker_dropped_messages_total',
        help: 'QoS 1/2 messages the MQTT broker says it dropped since it started (its $SYS counter, broker-wide; 0 until it reports one)',
        type: 'counter',
        value: this.reportedDrops,
        healthFigure: 'brokerDroppedMessages',
      },
      {
        name: 'mqtt_broker_stats_seen',
        help: '1 once the broker\'s $SYS statistics arrived on the current connection (0: drops by the broker cannot be seen)',
        type: 'gauge',
        value: this.#statsSeen ? 1 : 0,
      },
    ];
  }

  problems(): InputProblem[] {
    const problem = this.#current(this.#options.clock.now());
    if (!problem) return [];
    const mins = Math.round(this.#config.degradedFor / 60_000);
    const what =
      problem.count === undefined
        ? `the MQTT broker dropped messages recently (its 15-minute drop rate was ${problem.ratePerMinute ?? 0}/min when this gateway connected)`
        : `the MQTT broker reported ${problem.count} dropped QoS 1/2 messages${problem.firstSight ? ' (including its first report after this gateway connected: some may predate it)' : ''}`;
    return [
      {
        code: 'GW_MQTT_BROKER_DROPPED',
        message: `${what}; the count is broker-wide and does not say which device: messages it dropped for this gateway never reached it and are lost. Raise the broker's queue limits (config/mosquitto/edge-telemetry-gateway.conf). Degraded until ${mins} min without new drops.`,
        ...(problem.count === undefined ? {} : { count: problem.count }),
        since: problem.since,
        lastSeen: problem.lastSeen,
      },
    ];
  }
}
