// The baseline a user would write instead of the gateway: subscribe, and send every message to Kafka as it comes
// (no buffer: a message acknowledged to MQTT but not yet in Kafka is lost on a crash or outage).
import { parseArgs } from 'node:util';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import mqtt from 'mqtt';

const { values } = parseArgs({ options: { url: { type: 'string' }, base: { type: 'string' }, brokers: { type: 'string' }, topic: { type: 'string' } } });
const kafka = new Kafka({ clientId: 'naive-bridge', brokers: values.brokers.split(','), logLevel: logLevel.NOTHING });
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true });
await producer.connect();
const client = await mqtt.connectAsync(values.url, { clientId: `naive-bridge-${process.pid}`, clean: true });
client.on('message', (topic, message) => {
  const deviceId = topic.split('/').pop();
  const { temperature, humidity, t } = JSON.parse(message.toString());
  const value = JSON.stringify({ deviceId, temperature, humidity, sourceTime: new Date(t).toISOString(), receivedAt: new Date().toISOString() });
  producer.send({ topic: values.topic, acks: -1, messages: [{ key: deviceId, value }] }).catch((err) => console.error(err.message));
});
await client.subscribeAsync(`${values.base}/+`, { qos: 1 });
process.stdout.write('ready\n');
process.on('SIGTERM', async () => {
  await client.endAsync();
  await producer.disconnect();
  process.exit(0);
});
