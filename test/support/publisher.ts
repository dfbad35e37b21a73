import mqtt, { type MqttClient } from 'mqtt';

export interface PublishResult {
  /** Message numbers whose PUBACK the publisher received from the broker. */
  acked: Set<number>;
  attempted: number;
}

/** A test publisher: QoS 1 JSON sensor messages to `<base>/<device>`, temperature = message number. */
export class SensorPublisher {
  readonly #client: MqttClient;
  readonly acked = new Set<number>();
  attempted = 0;

  private constructor(client: MqttClient) {
    this.#client = client;
  }

  static async connect(url: string, clientId: string, login: { username: string; password: string } | Record<string, never> = {}): Promise<SensorPublisher> {
    const client = await mqtt.connectAsync(url, { clientId, clean: true, reconnectPeriod: 200, connectTimeout: 5000, ...login });
    return new SensorPublisher(client);
  }

  get client(): MqttClient {
    return this.#client;
  }

  static payload(n: number, time = Date.now()): string {
    return JSON.stringify({ n, temperature: n, humidity: 400 + (n % 200), time });
  }

  /** Publishes messages first..first+count-1 spread over `devices` devices; resolves when all are acknowledged. */
  async publishMany(baseTopic: string, first: number, count: number, devices: number, window = 500): Promise<void> {
    let next = first;
    const end = first + count;
    const inFlight = new Set<Promise<void>>();
    while (next < end) {
      const n = next++;
      this.attempted += 1;
      const p = this.#client
        .publishAsync(`${baseTopic}/dev-${n % devices}`, SensorPublisher.payload(n), { qos: 1 })
        .then(() => {
          this.acked.add(n);
        });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p)).catch(() => undefined);
      if (inFlight.size >= window) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true);
  }
}
