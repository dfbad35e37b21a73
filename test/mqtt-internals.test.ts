/**
 * The PUBACK hold relies on MQTT.js internals (src/inputs/mqtt/mqtt-internals.ts): the exact pinned version, the
 * self-check finding nothing wrong with it, and naming what changed when something did.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../src/errors.js';
import { assertMqttInternals, installedMqttVersion, mqttInternalsProblems, VERIFIED_MQTT_VERSION, type HandlePublish } from '../src/inputs/mqtt/mqtt-internals.js';

const ROOT = resolve(import.meta.dirname, '..');
const json = (file: string) => JSON.parse(readFileSync(resolve(ROOT, file), 'utf8')) as Record<string, Record<string, Record<string, unknown>>>;

describe('MQTT.js internals of the PUBACK hold', () => {
  it('pins mqtt to exactly the verified version in package.json and the lockfile, and that is what is installed', () => {
    expect(json('package.json').dependencies?.mqtt).toBe(VERIFIED_MQTT_VERSION);
    const lock = json('package-lock.json').packages ?? {};
    expect((lock[''] as { dependencies?: Record<string, string> } | undefined)?.dependencies?.mqtt).toBe(VERIFIED_MQTT_VERSION);
    expect(lock['node_modules/mqtt']?.version).toBe(VERIFIED_MQTT_VERSION);
    expect(installedMqttVersion()).toBe(VERIFIED_MQTT_VERSION);
  });

  it('finds the installed MQTT.js as the hold needs it (its own PUBLISH handler driven once)', () => {
    expect(mqttInternalsProblems()).toEqual([]);
    expect(() => assertMqttInternals()).not.toThrow();
  });

  it('names what changed and refuses with GW_MQTT_INTERNALS', () => {
    const renamed = Object.create(MqttClient.prototype, { _sendPacket: { value: undefined }, handleMessage: { value: 'not a function' } }) as object;
    expect(mqttInternalsProblems(renamed)).toEqual(['MqttClient._sendPacket is not a function any more', 'MqttClient.handleMessage is not a function any more']);
    const fewerParameters = Object.create(MqttClient.prototype, { _sendPacket: { value: (packet: unknown) => packet } }) as object;
    expect(mqttInternalsProblems(fewerParameters)).toEqual(['MqttClient._sendPacket takes 1 parameters, not (packet, cb, cbStorePut, noStore)']);
    // A handler that acknowledged before handing the message over would acknowledge uncommitted messages.
    const acksFirst: HandlePublish = (client, packet, done) => {
      client._sendPacket({ cmd: 'puback', messageId: packet.messageId }, () => client.handleMessage(packet, () => done()));
    };
    expect(mqttInternalsProblems(MqttClient.prototype, acksFirst)).toEqual([
      'a QoS 1 PUBLISH is handled as _sendPacket puback 7 → handler returned → handleMessage → done, not handleMessage → _sendPacket puback 7 → handler returned → done',
    ]);
    // A handler that reads on without waiting for the PUBACK send would defeat the input's read pause (its own
    // Receive Maximum): it would take unboundedly many messages while their PUBACKs wait.
    const readsOn: HandlePublish = (client, packet, done) => {
      client.handleMessage(packet, () => {
        client._sendPacket({ cmd: 'puback', messageId: packet.messageId });
        done();
      });
    };
    expect(mqttInternalsProblems(MqttClient.prototype, readsOn)).toEqual([
      'a QoS 1 PUBLISH is handled as handleMessage → _sendPacket puback 7 → done → handler returned, not handleMessage → _sendPacket puback 7 → handler returned → done',
    ]);
    let thrown: unknown;
    try {
      assertMqttInternals(renamed);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(GatewayError);
    expect((thrown as GatewayError).code).toBe('GW_MQTT_INTERNALS');
    expect((thrown as GatewayError).details.at(-1)).toMatch(/npm ci/);
  });
});
