// Extra simulated devices of the demo, one entry per device family (Modbus, serial, ...). Each entry's start()
// starts its simulator and returns the gateway inputs that read it, or undefined when it cannot run here.
//
// @typedef {{ root: string, demoDir: string, say: (line: string) => void }} DemoContext
// @typedef {{ inputs: object[], stop: () => Promise<void> }} DemoExtra
// @type {{ name: string, start: (ctx: DemoContext) => Promise<DemoExtra | undefined> }[]}
export const DEMO_EXTRAS = [
  // Modbus: an XY-MD02 temperature/humidity sensor and an Eastron SDM120 meter behind one simulated Modbus TCP
  // gateway (src/simulators/modbus.ts, values from the drivers' simulate hints), read by one modbus input.
  {
    name: 'modbus',
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
