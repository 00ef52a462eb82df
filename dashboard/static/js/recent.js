// The newest attempt rows of every subscriber, merged into one log. The
// API lists attempts per subscriber, so the log reads each (a few at a
// time) and sorts them together; filters the API has (status) go to it,
// the others (event type, time) apply to what came back.
import {api, pool} from './api.js';
import {subscribers} from './directory.js';

// recentAttempts answers {rows, subs, truncated}: rows newest first, each
// with its subscriber as row.sub; truncated when some subscriber has more
// rows than perSubscriber.
export async function recentAttempts({perSubscriber = 50, status = '', only = null} = {}) {
  let subs = await subscribers();
  if (only !== null) subs = subs.filter((s) => s.id === only);
  let truncated = false;
  const lists = await pool(subs, 4, async (sub) => {
    const page = await api.get(`${sub.base}/deliveries`, {limit: perSubscriber, status});
    if (page.total > page.deliveries.length) truncated = true;
    return page.deliveries.map((d) => Object.assign(d, {sub}));
  });
  const rows = lists.flat().sort((a, b) => (b.created_at < a.created_at ? -1 : b.created_at > a.created_at ? 1 : b.id - a.id));
  return {rows, subs, truncated};
}

// percentile is the p-th of the numbers (nearest rank), or null for none.
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}
