/**
 * Routes an MQTT message to the subscription that takes it: explicit-metrics subscriptions (mapping.ts) or
 * format driver subscriptions (formats/). The first subscription whose filter matches wins; topics a driver
 * subscribed to itself (Home Assistant state topics) go to that driver when no filter matches.
 */
import type { EventDraft } from '../../events/schema.js';
import type { MqttSubscriptionT } from './config.js';
import { loadMqttDriver, type MqttDriverT } from './drivers.js';
import type { FormatDecoder } from './formats/format.js';
import { createDecoder } from './formats/registry.js';
import { compileSubscription, decodeMessage, type CompiledSubscription } from './mapping.js';
import { topicMatches } from './topic-filter.js';
import { deadLetter, type DecodeContext } from './dead-letter.js';
import type { InputContext } from '../input.js';
import { sanitizeDeviceId } from '../../util/device-id.js';

export interface CompiledFilter {
  filter: string;
  levels: readonly string[];
  /** Levels before the first wildcard. */
  prefixLength: number;
}

export type Route =
  | { kind: 'metrics'; qos: 0 | 1; filters: readonly CompiledFilter[]; compiled: CompiledSubscription }
  | { kind: 'driver'; qos: 0 | 1; filters: readonly CompiledFilter[]; driverFile: string; decoder: FormatDecoder };

export interface RouteResult {
  drafts: EventDraft[];
  subscribe: { filter: string; qos: 0 | 1 }[];
  unsubscribe: string[];
}

export function compileFilter(filter: string): CompiledFilter {
  const levels = filter.split('/');
  const wildcard = levels.findIndex((l) => l === '+' || l === '#');
  return { filter, levels, prefixLength: wildcard === -1 ? levels.length : wildcard };
}

/** The topic filters of a driver subscription: its own, else the driver's defaults. */
export function driverTopics(sub: MqttSubscriptionT, driver: MqttDriverT): string[] {
  return sub.topics ?? (sub.topic === undefined ? driver.topics : [sub.topic]);
}

/** Compiles the subscriptions of an input, loading driver files (throws GW_DRIVER_* like check-config reports). */
export function compileRoutes(subscriptions: readonly MqttSubscriptionT[], context: InputContext): Route[] {
  return subscriptions.map((sub): Route => {
    if (sub.driver === undefined) {
      return { kind: 'metrics', qos: sub.qos, filters: [compileFilter(sub.topic ?? '#')], compiled: compileSubscription(sub) };
    }
    const { file, driver } = loadMqttDriver(sub.driver, context);
    return { kind: 'driver', qos: sub.qos, filters: driverTopics(sub, driver).map(compileFilter), driverFile: file, decoder: createDecoder(driver, sub.options) };
  });
}

/** Every filter to subscribe to on connect: the configured ones and those the drivers added. */
export function subscriptionTopics(routes: readonly Route[]): Record<string, { qos: 0 | 1 }> {
  const topics: Record<string, { qos: 0 | 1 }> = {};
  for (const route of routes) {
    for (const f of route.filters) topics[f.filter] = { qos: route.qos };
    if (route.kind === 'driver') for (const t of route.decoder.dynamicTopics()) topics[t] ??= { qos: route.qos };
  }
  return topics;
}

/** Maps one message to drafts (never throws: what cannot be decoded becomes a dead letter). */
export function routeMessage(routes: readonly Route[], topic: string, payload: Buffer, ctx: DecodeContext): RouteResult {
  const result: RouteResult = { drafts: [], subscribe: [], unsubscribe: [] };
  for (const route of routes) {
    const filter = route.filters.find((f) => topicMatches(f.levels, topic));
    if (filter === undefined) continue;
    if (route.kind === 'metrics') {
      result.drafts = decodeMessage(route.compiled, topic, payload, ctx);
      return result;
    }
    return decodeWith(route, topic, payload, topic.split('/').slice(filter.prefixLength), ctx);
  }
  for (const route of routes) {
    if (route.kind === 'driver' && route.decoder.claims(topic)) return decodeWith(route, topic, payload, undefined, ctx);
  }
  result.drafts = [deadLetter(ctx, `mqtt:${ctx.inputName}`, topic, payload, 'no subscription of this input matches the topic')];
  return result;
}

function decodeWith(route: Extract<Route, { kind: 'driver' }>, topic: string, payload: Buffer, relativeLevels: string[] | undefined, ctx: DecodeContext): RouteResult {
  if (payload.length > ctx.maxPayloadBytes) {
    return {
      drafts: [deadLetter(ctx, `mqtt:${ctx.inputName}`, topic, payload, `payload of ${payload.length} bytes exceeds maxPayloadBytes ${ctx.maxPayloadBytes}`)],
      subscribe: [],
      unsubscribe: [],
    };
  }
  const out = route.decoder.decode({ topic, payload, relativeLevels }, ctx);
  return {
    // Device ids come from topics and payloads that whoever publishes chooses: made safe like every device id.
    drafts: out.drafts.map((d) => ({ ...d, deviceId: sanitizeDeviceId(d.deviceId) })),
    subscribe: (out.subscribe ?? []).map((filter) => ({ filter, qos: route.qos })),
    unsubscribe: out.unsubscribe ?? [],
  };
}
