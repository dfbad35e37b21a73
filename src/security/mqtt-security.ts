/**
 * TLS options and failure classification for the MQTT input (`inputs[].tls`, username/password). Kept here, out
 * of the input, so the input's start() only spreads the options in and picks the code to log.
 */
import type { IClientOptions } from 'mqtt';
import type { ErrorCode } from '../errors.js';
import type { MqttInputConfigT } from '../inputs/mqtt/config.js';
import { errorChain, isTlsError, tlsConnectionOptions, type TlsClientConfigT } from './tls.js';

/** MQTT.js options for a TLS connection (used with mqtts:// and wss:// URLs); reads the PEM files now. */
export function mqttTlsOptions(tls: TlsClientConfigT | undefined, where: string): IClientOptions & { passphrase?: string } {
  if (tls === undefined) return {};
  const o = tlsConnectionOptions(tls, where);
  const out: IClientOptions & { passphrase?: string } = { rejectUnauthorized: o.rejectUnauthorized ?? true };
  if (typeof o.ca === 'string') out.ca = o.ca;
  if (typeof o.cert === 'string') out.cert = o.cert;
  if (typeof o.key === 'string') out.key = o.key;
  if (o.passphrase !== undefined) out.passphrase = o.passphrase;
  if (o.servername !== undefined) out.servername = o.servername;
  return out;
}

/** Login and TLS options of an MQTT input's connection: user name, password (read now), TLS files. */
export function mqttLoginOptions(c: Pick<MqttInputConfigT, 'name' | 'username' | 'password' | 'tls'>): IClientOptions {
  return {
    ...(c.username === undefined ? {} : { username: c.username }),
    ...(c.password === undefined ? {} : { password: c.password.reveal() }),
    ...mqttTlsOptions(c.tls, `inputs.${c.name}.tls`),
  };
}

/** CONNACK reason codes of a refused login: MQTT 5 (134 bad user name or password, 135 not authorized), 3.1.1 (4, 5). */
const AUTH_REASON_CODES = new Set([134, 135, 4, 5]);

/** The stable code for an MQTT client error, and what to check. */
export function classifyMqttError(err: unknown): { code: ErrorCode; hint: string } {
  const refusedLogin = errorChain(err).some((e) => {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'number' && AUTH_REASON_CODES.has(code);
  });
  if (refusedLogin) {
    return { code: 'GW_MQTT_AUTH', hint: 'check the input username and the password source, and the broker password file/ACL' };
  }
  if (isTlsError(err)) {
    return { code: 'GW_MQTT_TLS', hint: 'check tls.ca (the CA that signed the broker certificate), tls.servername and that the url is mqtts:// on the TLS listener' };
  }
  return { code: 'GW_MQTT_CONNECT', hint: 'check the url and that the broker runs' };
}
