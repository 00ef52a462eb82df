// Every subscriber, webhooks and integrations alike. Attempt rows name a
// subscriber by id; its own routes are under /webhooks/{id} or
// /integrations/{name}, so pages look it up here.
import {api} from './api.js';

let cached = null;
let fetchedAt = 0;
const FRESH_MS = 4000;

// subscribers lists them, newest first, read again when older than a few
// seconds (or when fresh is asked for).
export async function subscribers(fresh = false) {
  if (!fresh && cached && Date.now() - fetchedAt < FRESH_MS) return cached;
  const [hooks, integs] = await Promise.all([
    api.get('/webhooks', {limit: 1000}),
    api.get('/integrations', {limit: 1000}),
  ]);
  cached = [
    ...hooks.webhooks.map((w) => ({kind: 'webhook', id: w.id, name: w.name, base: `/webhooks/${w.id}`, item: w})),
    ...integs.integrations.map((i) => ({kind: 'integration', id: i.id, name: i.name,
      base: `/integrations/${encodeURIComponent(i.name)}`, item: i})),
  ];
  fetchedAt = Date.now();
  return cached;
}

export async function subscriber(id) {
  const all = await subscribers();
  return all.find((s) => s.id === id) || (await subscribers(true)).find((s) => s.id === id) || null;
}

// subscriberHref is the link to a subscriber's page.
export function subscriberHref(sub) {
  if (!sub) return '#/webhooks';
  return sub.kind === 'webhook' ? `#/webhooks/${sub.id}` : '#/integrations';
}

export function forget() {
  cached = null;
}
