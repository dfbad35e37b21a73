/**
 * A start-up self-check of the MQTT.js internals the PUBACK hold (mqtt-input.ts) relies on. MQTT.js has no
 * supported way to acknowledge a QoS 1 message later while reading on: its `customHandleAcks` option is asked
 * before the PUBACK, but MQTT.js reads the next packet only after that answer, so waiting in it for the commit
 * means one commit per message again. The input therefore replaces `client.handleMessage(packet, callback)` and
 * wraps `client._sendPacket(packet, cb, cbStorePut, noStore)`, which only works while MQTT.js
 *  - calls `handleMessage` once per incoming QoS 1 PUBLISH, before that message's PUBACK, and
 *  - sends that PUBACK through `client._sendPacket({ cmd: 'puback', messageId, … }, done)`, and
 *  - reads the next packet only when `done` is called, and calls it only from the PUBACK send's callback (the input
 *    holds that callback while `inflight` PUBACKs wait for their commit: its own Receive Maximum).
 * package.json pins `mqtt` to the exact version test/mqtt-puback.test.ts proved this with. Should another
 * version be installed anyway, this check drives MQTT.js's own PUBLISH handler once with a stand-in client (no
 * broker, no socket) and refuses to start the input with GW_MQTT_INTERNALS when any of the above changed, rather
 * than acknowledge messages that are not committed yet.
 */
import { createRequire } from 'node:module';
import { MqttClient } from 'mqtt';
import { GatewayError } from '../../errors.js';

/** The version whose internals test/mqtt-puback.test.ts proved; package.json pins exactly this (test/mqtt-internals.test.ts). */
export const VERIFIED_MQTT_VERSION = '5.16.0';

/** The slice of a client MQTT.js's PUBLISH handler uses for a QoS 1 message (see node_modules/mqtt/build/lib/handlers/publish.js). */
interface StandInClient {
  options: { protocolVersion: number; customHandleAcks: (topic: string, message: Buffer, packet: unknown, cb: (error: Error | null, code: number) => void) => void };
  log: (...args: unknown[]) => void;
  noop: () => void;
  emit: (event: string, ...args: unknown[]) => boolean;
  handleMessage: (packet: unknown, callback: (err?: Error) => void) => void;
  _sendPacket: (packet: { cmd: string; messageId?: number }, cb?: () => void) => void;
}
export type HandlePublish = (client: StandInClient, packet: { cmd: 'publish'; qos: 1; messageId: number; topic: string; payload: Buffer; retain: boolean; dup: boolean }, done: () => void) => void;

const require = createRequire(import.meta.url);

/**
 * What differs from what the PUBACK hold needs; empty when all is as verified. `client`: a client or the
 * prototype; `handler`: MQTT.js's PUBLISH handler (loaded from the package unless given).
 */
export function mqttInternalsProblems(client: object = MqttClient.prototype, handler?: HandlePublish): string[] {
  const problems: string[] = [];
  const internals = client as Record<string, unknown>;
  if (typeof internals._sendPacket !== 'function') problems.push('MqttClient._sendPacket is not a function any more');
  else if ((internals._sendPacket as (...args: unknown[]) => unknown).length !== 4) problems.push(`MqttClient._sendPacket takes ${(internals._sendPacket as (...args: unknown[]) => unknown).length} parameters, not (packet, cb, cbStorePut, noStore)`);
  if (typeof internals.handleMessage !== 'function') problems.push('MqttClient.handleMessage is not a function any more');
  let handlePublish = handler;
  if (handlePublish === undefined) {
    try {
      handlePublish = (require('mqtt/lib/handlers/publish') as { default?: HandlePublish }).default;
    } catch (err) {
      problems.push(`mqtt/lib/handlers/publish cannot be loaded: ${(err as Error).message}`);
    }
  }
  if (typeof handlePublish !== 'function') {
    if (handlePublish !== undefined || problems.length === 0) problems.push('mqtt/lib/handlers/publish has no default export handler');
    return problems;
  }
  // Drive the real handler once: the order of what it does is the contract.
  const steps: string[] = [];
  const standIn: StandInClient = {
    options: { protocolVersion: 4, customHandleAcks: (_t, _m, _p, cb) => cb(null, 0) },
    log: () => undefined,
    noop: () => undefined,
    emit: () => true,
    handleMessage: (_packet, callback) => {
      steps.push('handleMessage');
      callback();
    },
    // The PUBACK's send callback is held, as the input's read pause holds it: the next packet must wait for it.
    _sendPacket: (packet, cb) => {
      steps.push(`_sendPacket ${packet.cmd} ${String(packet.messageId)}`);
      if (cb) heldSendCallbacks.push(cb);
    },
  };
  const heldSendCallbacks: (() => void)[] = [];
  try {
    handlePublish(standIn, { cmd: 'publish', qos: 1, messageId: 7, topic: 'self-check', payload: Buffer.alloc(0), retain: false, dup: false }, () => steps.push('done'));
    steps.push('handler returned');
    for (const cb of heldSendCallbacks.splice(0)) cb();
  } catch (err) {
    problems.push(`MQTT.js's PUBLISH handler failed with a stand-in client: ${(err as Error).message}`);
    return problems;
  }
  const expected = ['handleMessage', '_sendPacket puback 7', 'handler returned', 'done'];
  if (steps.join(' → ') !== expected.join(' → ')) problems.push(`a QoS 1 PUBLISH is handled as ${steps.join(' → ') || 'nothing'}, not ${expected.join(' → ')}`);
  return problems;
}

/** The installed MQTT.js version (its package.json). */
export function installedMqttVersion(): string {
  return (require('mqtt/package.json') as { version: string }).version;
}

/** Throws GW_MQTT_INTERNALS when the internals the PUBACK hold relies on are not as verified. */
export function assertMqttInternals(client: object = MqttClient.prototype): void {
  const problems = mqttInternalsProblems(client);
  if (problems.length === 0) return;
  const version = installedMqttVersion();
  throw new GatewayError('GW_MQTT_INTERNALS', `MQTT.js ${version} does not work the way the acknowledgment after commit relies on (verified with ${VERIFIED_MQTT_VERSION})`, {
    details: [...problems, `install the pinned version: npm ci (package.json pins mqtt ${VERIFIED_MQTT_VERSION})`],
  });
}
