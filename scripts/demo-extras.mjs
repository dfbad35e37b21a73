// Extra simulated devices of the demo, one entry per device family (Modbus, serial, ...). Each entry's start()
// starts its simulator and returns the gateway inputs that read it, or undefined when it cannot run here.
//
// @typedef {{ root: string, demoDir: string, say: (line: string) => void }} DemoContext
// @typedef {{ inputs: object[], stop: () => Promise<void> }} DemoExtra
// @type {{ name: string, start: (ctx: DemoContext) => Promise<DemoExtra | undefined> }[]}
export const DEMO_EXTRAS = [];
