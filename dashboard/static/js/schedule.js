// A subscriber's retry schedule, worked out as the server does
// (webhook.RetryPolicy.Backoff and Schedule in Go): the API spells out the
// subscriber's own (retry_schedule_seconds); this gives the form's preview
// and each event type's override. The dashboard's browser test holds the
// two implementations to each other.

// RETRY_FIELDS are the fields an override may set.
export const RETRY_FIELDS = ['retry_strategy', 'max_retries', 'retry_delay_seconds', 'backoff_multiplier',
  'max_delay_seconds', 'jitter_percentage'];

// attempts is how many attempts a delivery gets, the first included.
export function attempts(p) {
  return p.retry_strategy === 'no_retry' ? 1 : 1 + p.max_retries;
}

// backoff is the delay before retry n (n ≥ 1 is the attempt that just
// failed), in seconds, before jitter; capped at max_delay_seconds.
export function backoff(p, n) {
  n = Math.max(n, 1);
  const base = p.retry_delay_seconds;
  let secs;
  switch (p.retry_strategy) {
    case 'exponential_backoff':
      secs = base * Math.pow(Math.max(p.backoff_multiplier, 1), n - 1);
      break;
    case 'linear_backoff':
      secs = base * n;
      break;
    default:
      secs = base;
  }
  if (p.max_delay_seconds > 0 && secs > p.max_delay_seconds) secs = p.max_delay_seconds;
  // Go keeps a time.Duration, whole nanoseconds, truncated.
  return Math.trunc(secs * 1e9) / 1e9;
}

// schedule lists the delays before each retry, in seconds, without jitter.
export function schedule(p) {
  const out = [];
  for (let n = 1; n < attempts(p); n++) out.push(backoff(p, n));
  return out;
}

// withOverride is the subscriber's retry fields with an event type's
// override applied: a field the override leaves out keeps its value.
export function withOverride(sub, override) {
  const p = {};
  for (const f of RETRY_FIELDS) p[f] = override && override[f] !== undefined ? override[f] : sub[f];
  return p;
}
