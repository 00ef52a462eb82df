// The newest attempt rows of every subscriber, one log: the API's delivery
// log (GET /deliveries), filtered there, each row with its subscriber.
import {api} from './api.js';
import {subscribers} from './directory.js';

// recentAttempts answers {rows, subs, truncated}: at most limit rows,
// newest first, each with its subscriber as row.sub; truncated when more
// match. since and until are Date objects or null.
export async function recentAttempts({limit = 200, status = '', only = null, eventType = '', since = null, until = null} = {}) {
  const [subs, page] = await Promise.all([subscribers(), api.get('/deliveries', {limit, status, webhook_id: only,
    event_type: eventType, since: since && since.toISOString(), until: until && until.toISOString()})]);
  const byID = new Map(subs.map((s) => [s.id, s]));
  const rows = page.deliveries.map((d) => Object.assign(d,
    {sub: byID.get(d.webhook_id) || {kind: 'webhook', id: d.webhook_id, name: `#${d.webhook_id}`}}));
  return {rows, subs, truncated: page.total > rows.length};
}
