// Extra simulated devices of the demo, one entry per device family (Modbus, serial, ...). Each entry's start()
// starts its simulator and returns the gateway inputs that read it, or undefined when it cannot run here.
//
// @typedef {{ root: string, demoDir: string, say: (line: string) => void, mqttUrl: string }} DemoContext
// @typedef {{ inputs: object[], stop: () => Promise<void> }} DemoExtra
// @type {{ name: string, what: string, start: (ctx: DemoContext) => Promise<DemoExtra | undefined> }[]}
// (`what`: how the demo's introduction names what the entry runs)
export const DEMO_EXTRAS = [
  // MQTT ecosystems: the publisher simulators of the five format drivers (src/simulators/mqtt.ts: Zigbee2MQTT
  // sensors and a plug, Tasmota plugs, Shelly Gen2 switches, a Sparkplug B edge node, Home Assistant discovery
  // devices) on the demo's broker, each under a demo-only namespace, read by one more MQTT input. The simulators
  // start before the gateway runs, so the input's persistent session is opened first (same client id, the same
  // subscriptions): the broker then keeps their births and first states for the gateway instead of dropping them.
  {
    name: 'mqtt-formats',
    what: 'MQTT publishers of the five ecosystem formats (Zigbee2MQTT, Tasmota, Shelly Gen2, Sparkplug B, Home Assistant discovery)',
    async start({ root, say, mqttUrl }) {
      const { pathToFileURL } = await import('node:url');
      const load = (file) => import(pathToFileURL(`${root}/dist/${file}`).href);
      const { startMqttSimulator } = await load('simulators/mqtt.js');
      const { MQTT_FORMAT_NAMES, formatOf } = await load('inputs/mqtt/formats/registry.js');
      const { loadMqttDriver } = await load('inputs/mqtt/drivers.js');
      const { SHIPPED_DRIVERS_DIR } = await load('drivers/driver-files.js');
      const mqtt = (await import('mqtt')).default;
      const base = (format) => `demo-${format}`;
      const subscriptions = MQTT_FORMAT_NAMES.map((format) => {
        const { driver } = loadMqttDriver(format, { configDir: root, driverSearchPaths: [SHIPPED_DRIVERS_DIR] });
        return { driver: format, ...formatOf(driver).simulation.subscription(base(format)) };
      });
      const clientId = 'demo-gateway-demo-formats';
      const session = await mqtt.connectAsync(mqttUrl, { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
      await session.subscribeAsync(Object.fromEntries(subscriptions.flatMap((s) => s.topics ?? [s.topic]).map((t) => [t, { qos: 1 }])));
      await session.endAsync();
      const simulators = [];
      for (const format of MQTT_FORMAT_NAMES) {
        const sim = await startMqttSimulator({ driver: format, configDir: root, mqttUrl, base: base(format), intervalMs: 2000 });
        simulators.push(sim);
        say(`mqtt      ${sim.describe()}`);
      }
      return {
        inputs: [{ type: 'mqtt', name: 'demo-formats', url: mqttUrl, clientId, reconnect: { initial: '500ms', max: '5s' }, subscriptions }],
        stop: async () => {
          for (const sim of simulators) await sim.stop();
        },
      };
    },
  },
  // Modbus: an XY-MD02 temperature/humidity sensor and an Eastron SDM120 meter behind one simulated Modbus TCP
  // gateway (src/simulators/modbus.ts, values from the drivers' simulate hints), read by one modbus input.
  {
    name: 'modbus',
    what: 'a Modbus TCP simulator (XY-MD02 sensor, Eastron SDM120 meter)',
    async start({ root, say }) {
      const { pathToFileURL } = await import('node:url');
      const load = (file) => import(pathToFileURL(`${root}/dist/${file}`).href);
      const { ModbusSimulator } = await load('simulators/modbus.js');
      const { loadDriverFile, SHIPPED_DRIVERS_DIR } = await load('drivers/driver-files.js');
      const { ModbusDriverSchema } = await load('inputs/modbus/driver.js');
      const driver = (name) => loadDriverFile(name, ModbusDriverSchema, [SHIPPED_DRIVERS_DIR], SHIPPED_DRIVERS_DIR).driver;
      const simulator = new ModbusSimulator({ units: [{ unitId: 1, driver: driver('xy-md02') }, { unitId: 2, driver: driver('eastron-sdm120') }] });
      await simulator.start();
      say(`modbus    ${simulator.describe()}`);
      return {
        inputs: [
          {
            type: 'modbus',
            name: 'demo-modbus',
            transport: { kind: 'tcp', host: '127.0.0.1', port: simulator.port },
            devices: [
              { id: 'greenhouse-th', driver: 'xy-md02', unitId: 1, pollInterval: '2s' },
              { id: 'house-meter', driver: 'eastron-sdm120', unitId: 2, pollGroups: { default: '2s', energy: '10s' } },
            ],
          },
        ],
        stop: () => simulator.stop(),
      };
    },
  },
  // Serial: a pulse oximeter speaking Masimo-style "ASCII 1" on a pseudo-terminal (src/simulators/serial.ts, needs
  // socat), one record a second; every 30 s a short desaturation raises and clears the spo2-low alarm.
  {
    name: 'serial',
    what: 'a serial pulse oximeter on a pseudo-terminal',
    async start({ root, say }) {
      const { pathToFileURL } = await import('node:url');
      const { startSerialSimulator } = await import(pathToFileURL(`${root}/dist/simulators/serial.js`).href);
      let simulator;
      try {
        simulator = await startSerialSimulator({ driver: 'pulse-oximeter-ascii', configDir: root });
      } catch (err) {
        say(`serial    skipped: ${err.message}`);
        return undefined;
      }
      const episode = [91, 88, 86, 85, 87, 90, 94].map((spo2, i) => ({ spo2, hr: 84 + i * 4, alarm: spo2 < 90 ? 0x02 : 0 }));
      const timer = setInterval(() => void simulator.play(episode), 30_000);
      say(`serial    ${simulator.describe()}`);
      return {
        inputs: [{ type: 'serial', name: 'demo-serial', port: simulator.path, driver: 'pulse-oximeter-ascii', deviceId: 'bed-7-oximeter', timezone: 'UTC' }],
        stop: async () => {
          clearInterval(timer);
          await simulator.stop();
        },
      };
    },
  },
];
