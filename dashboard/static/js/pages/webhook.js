// One webhook: its health and figures, its configuration and the retry
// schedule it implies, and what an operator does to it (pause, resume,
// test, rotate the secret, delete).
import {api} from '../api.js';
import {h, replace, dl, json, notice, table, confirmButton, badge, field} from '../dom.js';
import {can} from '../session.js';
import {withOverride, schedule} from '../schedule.js';
import {duration, ms, num, pct, time, when} from '../format.js';
import {health} from './webhooks.js';
import {forget} from '../directory.js';

export async function webhookPage(ctx) {
  const id = Number(ctx.params[0]);
  const base = `/webhooks/${id}`;
  const head = h('div', {class: 'page-head'});
  const result = h('div', {id: 'action-result'});
  const sections = {figures: h('div'), config: h('div'), schedule: h('div'), recent: h('div')};
  replace(ctx.main, head,
    can('write') ? h('section', {'aria-labelledby': 'actions-h', class: 'card'}, h('h2', {id: 'actions-h'}, 'Actions'),
      actions(ctx, base, result), result) : null,
    h('section', {'aria-labelledby': 'figures-h'}, h('h2', {id: 'figures-h'}, 'Deliveries, last 7 days'), sections.figures),
    h('div', {class: 'columns'},
      h('section', {'aria-labelledby': 'config-h', class: 'card'}, h('h2', {id: 'config-h'}, 'Configuration'), sections.config),
      h('section', {'aria-labelledby': 'schedule-h', class: 'card'}, h('h2', {id: 'schedule-h'}, 'Retry schedule'), sections.schedule)),
    h('section', {'aria-labelledby': 'recent-h'}, h('h2', {id: 'recent-h'}, 'Latest attempts'), sections.recent));
  const refresh = async () => {
    const current = ctx.ticket();
    const [w, figures, recent] = await Promise.all([api.get(base), api.get(`${base}/analytics`, {period_days: 7}),
      api.get(`${base}/deliveries`, {limit: 10})]);
    if (!current()) return;
    ctx.title(w.name);
    replace(head, h('h1', {tabindex: '-1'}, w.name), health(w));
    ctx.webhook = w;
    replace(sections.figures, figureTiles(figures));
    replace(sections.config, config(w));
    replace(sections.schedule, retrySchedules(w));
    replace(sections.recent, recentTable(id, recent.deliveries),
      h('p', {}, h('a', {href: `#/deliveries?webhook=${id}`}, 'Every delivery of this webhook')));
    ctx.showPauseState?.(w);
  };
  ctx.refresh = refresh;
  await refresh();
  ctx.every(10000, refresh);
}

// actions are the operator's buttons; what they did shows in result.
function actions(ctx, base, result) {
  const say = (...children) => replace(result, ...children);
  const failed = (e) => say(notice('error', e.message));
  const reason = h('input', {name: 'status_reason', type: 'text', placeholder: 'receiver maintenance', id: 'pause-reason'});
  const pause = h('button', {type: 'button', id: 'pause'}, 'Pause');
  const resume = h('button', {type: 'button', id: 'resume'}, 'Resume');
  // Neither shows until the webhook's status is known.
  pause.hidden = resume.hidden = true;
  ctx.showPauseState = (w) => {
    pause.hidden = w.status === 'paused';
    resume.hidden = w.status !== 'paused';
  };
  pause.addEventListener('click', () => api.put(base, {status: 'paused', status_reason: reason.value.trim()})
    .then(() => { say(notice('ok', 'Paused: new deliveries are held until it is resumed.')); return ctx.refresh(); }, failed));
  resume.addEventListener('click', () => api.put(base, {status: 'active'})
    .then((w) => { say(notice('ok', `Resumed; ${w.released_deliveries ?? 0} held deliveries released.`)); return ctx.refresh(); }, failed));
  const testType = h('select', {id: 'test-event-type', name: 'event_type'});
  fillTestTypes(testType, base).catch(() => {});
  const test = h('button', {type: 'button', id: 'send-test'}, 'Send test delivery');
  test.addEventListener('click', () => {
    say(notice('info', 'Sending…'));
    api.post(`${base}/test`, {event_type: testType.value || undefined}).then((r) => say(testResult(base, r)), failed);
  });
  const rotate = confirmButton('Rotate secret', 'Rotate now? The old secret keeps signing for 24 h', () =>
    api.post(`${base}/rotate-secret`, {}).then((r) => say(secretShown(r.secret,
      `The old secret keeps signing until ${when(r.previous_secret_expires_at)}.`)), failed), {id: 'rotate'});
  const remove = confirmButton('Delete webhook', 'Delete it and its history? Press again', () =>
    api.del(base).then(() => { forget(); window.location.hash = '#/webhooks'; }, failed), {id: 'delete', class: 'danger'});
  return h('div', {class: 'actions'},
    h('div', {class: 'action-group'}, field('Reason for pausing', reason), pause, resume),
    h('div', {class: 'action-group'}, field('Test with the example of', testType), test),
    h('div', {class: 'action-group'}, rotate, remove));
}

// fillTestTypes offers the types the webhook subscribes to.
async function fillTestTypes(select, base) {
  const [types, w] = await Promise.all([api.get('/event-types'), api.get(base)]);
  const subscribed = w.event_types.includes('*') ? types.event_types.map((t) => t.event_type) : w.event_types;
  replace(select, subscribed.map((t) => h('option', {value: t}, t)));
}

function testResult(base, r) {
  const id = base.split('/').pop();
  return notice(r.success ? 'ok' : 'error',
    h('p', {}, r.success ? `Delivered: HTTP ${r.status_code} in ${ms(r.duration_ms)}.` : `Not delivered: ${r.error || `HTTP ${r.status_code}`}.`),
    r.filtered ? h('p', {}, 'The filter would leave this event out; the test was sent anyway.') : null,
    h('p', {}, h('a', {href: `#/deliveries/${id}/${r.delivery_id}`}, `Open the test delivery #${r.delivery_id}`)));
}

// secretShown shows a secret the one time the API gives it whole.
export function secretShown(secret, note) {
  const code = h('code', {id: 'secret-value', class: 'secret'}, secret);
  const copy = h('button', {type: 'button'}, 'Copy');
  copy.addEventListener('click', () => navigator.clipboard.writeText(secret).then(() => { copy.textContent = 'Copied'; }));
  return notice('ok', h('p', {}, h('strong', {}, 'Signing secret, shown this once: '), 'copy it to your receiver now.'),
    h('p', {}, code, ' ', copy), note ? h('p', {}, note) : null);
}

function figureTiles(st) {
  const tile = (label, value) => h('div', {class: 'tile'}, h('p', {class: 'tile-label'}, label), h('p', {class: 'tile-value'}, value));
  return h('div', {class: 'tiles', id: 'webhook-figures'},
    tile('Success rate', st.total_events ? pct(st.success_rate) : '—'), tile('Deliveries', num(st.total_events)),
    tile('Failed for good', num(st.failed_deliveries)), tile('Retries', num(st.retry_count)),
    tile('Average response', st.total_events ? ms(st.avg_response_time_ms) : '—'),
    tile('p95 response', st.total_events ? ms(st.p95_response_time_ms) : '—'),
    tile('HTTP 4xx / 5xx', `${num(st.http_4xx_errors)} / ${num(st.http_5xx_errors)}`),
    tile('Timeouts / network', `${num(st.timeout_errors)} / ${num(st.network_errors)}`),
    tile('Filtered out', num(st.filtered_events)));
}

function config(w) {
  return dl([
    ['URL', h('code', {}, w.url)],
    ['Description', w.description],
    ['Status', [badge(w.status), w.status_reason ? ` ${w.status_reason}` : '', w.paused_at ? ` since ${when(w.paused_at)}` : '']],
    w.paused_by_delivery ? ['Paused by', h('a', {href: `#/deliveries/${w.id}/${w.paused_by_delivery}`}, `the circuit breaker, at delivery #${w.paused_by_delivery}`)] : null,
    ['Event types', w.event_types.join(', ')],
    ['Delivery mode', w.delivery_mode.replace('_', ' ')],
    ['Timeout', duration(w.timeout_seconds)],
    ['Rate limit', `${num(w.rate_limit_per_minute)} a minute, ${num(w.rate_limit_per_hour)} an hour`],
    ['Signing secret', [h('code', {}, w.secret), w.previous_secret_expires_at ? ` (the previous one signs too until ${when(w.previous_secret_expires_at)})` : '']],
    ['Custom headers', Object.keys(w.custom_headers).length ? json(w.custom_headers, 'Custom headers') : ''],
    ['Filter', w.filter ? json(w.filter, 'Filter') : 'none: every event of its types'],
    ['Metadata', Object.keys(w.metadata).length ? json(w.metadata, 'Metadata') : ''],
    ['Last triggered', time(w.last_triggered_at)],
    ['Created', when(w.created_at)],
  ]);
}

// retrySchedules spells out the waits between attempts: the subscriber's
// own (as the API computed it) and each event type's override.
function retrySchedules(w) {
  const own = scheduleList(w.retry_schedule_seconds, w.jitter_percentage, 'retry-schedule');
  const overrides = Object.entries(w.retry_overrides).map(([type, o]) => {
    const p = withOverride(w, o);
    return [h('h3', {}, `${type} (override)`), scheduleList(schedule(p), p.jitter_percentage)];
  });
  return [h('p', {}, `${w.retry_strategy.replaceAll('_', ' ')}, up to ${w.max_retries} retries.`), own, overrides,
    h('p', {class: 'hint'}, `Each wait varies by ±${pct(w.jitter_percentage * 100)} (jitter). A receiver's Retry-After (429, 503) can stretch a wait, never beyond 24 h. After the last attempt the delivery has failed for good.`)];
}

export function scheduleList(delays, jitter, id) {
  let total = 0;
  return h('ol', {class: 'schedule', id}, h('li', {}, 'Attempt 1: at once'), delays.map((d, i) => {
    total += d;
    return h('li', {}, `Attempt ${i + 2}: ${duration(d)} after attempt ${i + 1}`, h('span', {class: 'hint'}, ` (${duration(total)} after the first)`));
  }));
}

function recentTable(id, rows) {
  return table('Latest attempts', [
    ['Attempt', (d) => h('a', {href: `#/deliveries/${id}/${d.id}`}, `#${d.id}`)],
    ['Time', (d) => time(d.created_at)],
    ['Event', (d) => h('a', {href: `#/events/${encodeURIComponent(d.event_id)}`}, d.event_id)],
    ['Type', (d) => d.event_type],
    ['Try', (d) => String(d.attempt_number)],
    ['Status', (d) => badge(d.status)],
    ['Code', (d) => (d.response_status_code ?? '—')],
  ], rows);
}
