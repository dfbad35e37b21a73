/**
 * The broker-drop monitor's logic (src/inputs/mqtt/broker-drops.ts) with an injected clock and the exact payloads
 * Mosquitto 2.0 and EMQX publish. Against real Mosquitto processes: test/e2e-broker-drops.test.ts.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BROKER_DROPS_DEFAULTS, BrokerDropMonitor, BrokerDropsConfig, type DropTopicsClient } from '../src/inputs/mqtt/broker-drops.js';
import { MqttInputConfig } from '../src/inputs/mqtt/config.js';
import { createLogger } from '../src/util/logger.js';

const MOSQUITTO_DROPPED = '$SYS/broker/publish/messages/dropped';
const MOSQUITTO_RATE = '$SYS/broker/load/publish/dropped/15min';

function monitorWith(config = BROKER_DROPS_DEFAULTS) {
  let now = 1_000_000;
  /** The monitor's one timer (the "no statistics arrived" check), fired by the test. */
  const timers: { fn: () => void; ms: number }[] = [];
  const logs: { code?: string; msg: string; dropped?: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as { msg: string });
      done();
    },
  });
  const monitor = new BrokerDropMonitor(config, {
    input: 'site',
    url: 'mqtt://127.0.0.1:1883',
    logger: createLogger('info', sink),
    clock: { now: () => now },
    schedule: (fn, ms) => {
      const timer = { fn, ms };
      timers.push(timer);
      return () => timers.splice(timers.indexOf(timer), 1);
    },
  });
  const say = (topic: string, payload: string): void => monitor.observe(topic, Buffer.from(payload));
  const advance = (ms: number): void => {
    now += ms;
  };
  const metric = (name: string): number | undefined => monitor.metrics().find((m) => m.name === name)?.value;
  return { monitor, logs, say, advance, metric, timers };
}

describe('broker-drop monitor', () => {
  it('takes only the broker statistics topics, never device topics', () => {
    const { monitor } = monitorWith();
    expect(monitor.takes(MOSQUITTO_DROPPED)).toBe(true);
    expect(monitor.takes('$SYS/broker/uptime')).toBe(true);
    expect(monitor.takes('$SYS/brokers/emqx@10.0.0.1/metrics/delivery/dropped/queue_full')).toBe(true);
    expect(monitor.takes('$SYS/broker/clients/connected')).toBe(false);
    expect(monitor.takes('zigbee2mqtt/kitchen')).toBe(false);
    const off = monitorWith({ ...BROKER_DROPS_DEFAULTS, monitor: false });
    expect(off.monitor.takes(MOSQUITTO_DROPPED)).toBe(false);
    expect(off.monitor.topics).toEqual([]);
    expect(off.monitor.metrics()).toEqual([]);
  });

  it('a counter that grows makes a problem with the count, a warning per growth, and the metric', () => {
    const { monitor, logs, say, advance, metric } = monitorWith();
    say('$SYS/broker/uptime', '12 seconds');
    say(MOSQUITTO_DROPPED, '0');
    expect(monitor.problems()).toEqual([]);
    expect(metric('mqtt_broker_stats_seen')).toBe(1);
    advance(10_000);
    say(MOSQUITTO_DROPPED, '4000');
    advance(10_000);
    say(MOSQUITTO_DROPPED, '4500');
    const [problem] = monitor.problems();
    expect(problem).toMatchObject({ code: 'GW_MQTT_BROKER_DROPPED', count: 4500, since: 1_010_000, lastSeen: 1_020_000 });
    expect(problem?.message).toContain('4500 dropped');
    expect(problem?.message).not.toContain('predate');
    expect(metric('mqtt_broker_dropped_messages_total')).toBe(4500);
    expect(monitor.metrics().find((m) => m.name === 'mqtt_broker_dropped_messages_total')?.healthFigure).toBe('brokerDroppedMessages');
    expect(logs.filter((l) => l.code === 'GW_MQTT_BROKER_DROPPED').map((l) => l.dropped)).toEqual([4000, 500]);
  });

  it('a first report above zero counts as dropped and says it may predate the connection', () => {
    const { monitor, say } = monitorWith();
    say(MOSQUITTO_DROPPED, '2000\n');
    expect(monitor.problems()[0]).toMatchObject({ count: 2000 });
    expect(monitor.problems()[0]?.message).toContain('predate');
  });

  it('stays degraded for degradedFor after the last growth, then clears; a new growth starts a new problem', () => {
    const { monitor, say, advance } = monitorWith(BrokerDropsConfig.parse({ degradedFor: '1m' }));
    say(MOSQUITTO_DROPPED, '0');
    say(MOSQUITTO_DROPPED, '10');
    advance(59_000);
    expect(monitor.problems()).toHaveLength(1);
    say(MOSQUITTO_DROPPED, '10'); // unchanged: not a new drop
    advance(1000);
    expect(monitor.problems()).toEqual([]);
    say(MOSQUITTO_DROPPED, '15');
    expect(monitor.problems()[0]).toMatchObject({ count: 5, since: 1_060_000 });
  });

  it('a counter below its last value means the broker restarted: what it reports since is new', () => {
    const { monitor, say, metric } = monitorWith();
    say(MOSQUITTO_DROPPED, '0');
    say(MOSQUITTO_DROPPED, '100');
    say(MOSQUITTO_DROPPED, '7');
    expect(monitor.problems()[0]?.count).toBe(107);
    expect(metric('mqtt_broker_dropped_messages_total')).toBe(7);
  });

  it('EMQX: one counter per node, summed', () => {
    const { monitor, say, metric } = monitorWith();
    say('$SYS/brokers/emqx@a/metrics/delivery/dropped/queue_full', '0');
    say('$SYS/brokers/emqx@b/metrics/delivery/dropped/queue_full', '3');
    say('$SYS/brokers/emqx@a/metrics/delivery/dropped/queue_full', '5');
    expect(metric('mqtt_broker_dropped_messages_total')).toBe(8);
    expect(monitor.problems()[0]?.count).toBe(8);
  });

  it("Mosquitto's recent drop rate at first sight reveals drops from before the connection (counter unknown)", () => {
    const { monitor, say, logs } = monitorWith();
    say(MOSQUITTO_RATE, '133.12');
    const [problem] = monitor.problems();
    expect(problem?.count).toBeUndefined();
    expect(problem?.message).toContain('133.12/min');
    expect(logs.some((l) => l.code === 'GW_MQTT_BROKER_DROPPED')).toBe(true);
    // The counter arriving later adds its count to the same problem.
    say(MOSQUITTO_DROPPED, '2000');
    expect(monitor.problems()).toHaveLength(1);
    expect(monitor.problems()[0]?.count).toBe(2000);
  });

  it('a zero or later rate, and payloads that are not numbers, change nothing', () => {
    const { monitor, say, logs } = monitorWith();
    say(MOSQUITTO_RATE, '0.00');
    say(MOSQUITTO_RATE, '50.00');
    say(MOSQUITTO_DROPPED, 'lots');
    say(MOSQUITTO_DROPPED, '-5');
    say(MOSQUITTO_DROPPED, '');
    expect(monitor.problems()).toEqual([]);
    expect(logs.filter((l) => l.code)).toEqual([]);
  });

  it('custom counter topics replace the defaults', () => {
    const { monitor, say } = monitorWith(BrokerDropsConfig.parse({ counterTopics: ['site/broker/dropped'] }));
    expect(monitor.takes(MOSQUITTO_DROPPED)).toBe(false);
    say('site/broker/dropped', '0');
    say('site/broker/dropped', '3');
    expect(monitor.problems()[0]?.count).toBe(3);
  });

  it('says once when the broker refuses the $SYS subscriptions, or when no statistics arrive in 150 s', async () => {
    const refusing: DropTopicsClient = {
      subscribe: (topics, cb) => cb(null, Object.keys(topics).map((topic) => ({ topic, qos: 128 }))),
    };
    const a = monitorWith();
    a.monitor.attach(refusing);
    a.monitor.attach(refusing);
    expect(a.logs.filter((l) => l.code === 'GW_MQTT_DROPS_UNMONITORED')).toHaveLength(1);
    await a.monitor.stop();
    expect(a.timers).toEqual([]);

    const granting: DropTopicsClient = { subscribe: (topics, cb) => cb(null, Object.keys(topics).map((topic) => ({ topic, qos: 0 }))) };
    const b = monitorWith();
    b.monitor.attach(granting);
    expect(b.metric('mqtt_broker_stats_seen')).toBe(0);
    expect(b.timers.map((t) => t.ms)).toEqual([150_000]);
    b.timers[0]?.fn();
    expect(b.logs.filter((l) => l.code === 'GW_MQTT_DROPS_UNMONITORED')).toHaveLength(1);

    const c = monitorWith();
    c.monitor.attach(granting);
    c.say('$SYS/broker/uptime', '1 seconds');
    c.timers[0]?.fn();
    expect(c.logs.filter((l) => l.code)).toEqual([]);
    // A reconnect replaces the check (one timer at a time) and needs statistics again.
    c.monitor.attach(granting);
    expect(c.timers).toHaveLength(1);
    expect(c.metric('mqtt_broker_stats_seen')).toBe(0);
  });

  it('is on by default for every MQTT input, and validates its keys', () => {
    const input = MqttInputConfig.parse({ type: 'mqtt', name: 'a', url: 'mqtt://h:1883', subscriptions: [{ topic: 'x/+', metrics: [{ field: 'v', metric: 'v' }] }] });
    expect(input.brokerDrops).toEqual(BROKER_DROPS_DEFAULTS);
    expect(() => BrokerDropsConfig.parse({ degradedFor: 'soon' })).toThrow();
    expect(() => BrokerDropsConfig.parse({ counterTopics: [] })).toThrow();
    expect(() => BrokerDropsConfig.parse({ monitr: false })).toThrow();
  });
});
