// The delivery log: every attempt of every subscriber, newest first,
// filtered, with new attempts appearing as they are made.
import {api} from '../api.js';
import {h, replace, badge, table, announce, notice} from '../dom.js';
import {subscribers} from '../directory.js';
import {recentAttempts} from '../recent.js';
import {ms, time} from '../format.js';

const STATUSES = ['', 'pending', 'delivered', 'retrying', 'failed'];

export async function deliveries(ctx) {
  ctx.title('Deliveries');
  const q = ctx.query;
  const [subs, types] = await Promise.all([subscribers(true), api.get('/event-types')]);
  const form = filters(q, subs, types.event_types);
  const log = h('div', {id: 'delivery-log'});
  const more = h('button', {type: 'button', id: 'load-more', hidden: true}, 'Show older attempts');
  const status = h('p', {class: 'refresh-status', role: 'status', id: 'log-status'});
  replace(ctx.main, h('h1', {tabindex: '-1'}, 'Deliveries'), form, status, log, more);
  let limit = 200;
  const seen = new Set();
  let first = true;
  const refresh = async () => {
    const current = ctx.ticket();
    const {rows, truncated} = await recentAttempts({limit, status: q.status || '', eventType: q.event_type || '',
      only: q.webhook ? Number(q.webhook) : null, since: localTime(q.from), until: localTime(q.to)});
    if (!current()) return; // a newer refresh, or another page, has drawn since
    const fresh = first ? [] : rows.filter((d) => !seen.has(d.id));
    rows.forEach((d) => seen.add(d.id));
    replace(log, logTable(rows, new Set(fresh.map((d) => d.id))));
    if (fresh.length) announce(`${fresh.length} new ${fresh.length === 1 ? 'attempt' : 'attempts'} in the log.`);
    more.hidden = !truncated || limit >= 1000;
    status.textContent = `${rows.length} attempts shown, updated every 3 seconds; last ${new Date().toLocaleTimeString()}.`;
    first = false;
  };
  more.addEventListener('click', () => {
    limit = 1000;
    refresh();
  });
  ctx.onRefreshError = (e) => { status.textContent = `Not updated: ${e.message}`; };
  await refresh();
  ctx.every(3000, refresh);
}

// localTime reads a datetime-local field's value (the viewer's time), or
// null when it is empty.
function localTime(v) {
  return v ? new Date(v) : null;
}

function filters(q, subs, types) {
  const select = (name, label, options) => [h('label', {for: `filter-${name}`}, label),
    h('select', {name, id: `filter-${name}`}, options.map(([v, l]) => h('option', {value: v, selected: String(q[name] || '') === String(v)}, l)))];
  const input = (name, label) => [h('label', {for: `filter-${name}`}, label),
    h('input', {name, id: `filter-${name}`, type: 'datetime-local', value: q[name] || ''})];
  const form = h('form', {class: 'filters', id: 'log-filters', role: 'search', 'aria-label': 'Filter deliveries'},
    select('status', 'Status', STATUSES.map((s) => [s, s || 'any'])),
    select('event_type', 'Event type', [['', 'any'], ...types.map((t) => [t.event_type, t.event_type])]),
    select('webhook', 'Subscriber', [['', 'any'], ...subs.map((s) => [s.id, `${s.name} (${s.kind})`])]),
    input('from', 'From'), input('to', 'To'),
    h('button', {type: 'submit'}, 'Apply'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const params = new URLSearchParams([...new FormData(form)].filter(([, v]) => v !== ''));
    window.location.hash = `#/deliveries${params.size ? `?${params}` : ''}`;
  });
  return form;
}

function logTable(rows, fresh) {
  if (rows.length === 0) return notice('info', 'No attempts match. New ones appear here as they are made.');
  return table('Delivery attempts, newest first', [
    ['Attempt', (d) => h('a', {href: `#/deliveries/${d.webhook_id}/${d.id}`}, `#${d.id}`)],
    ['Time', (d) => time(d.created_at)],
    ['Subscriber', (d) => d.sub.name],
    ['Event type', (d) => d.event_type],
    ['Event', (d) => h('a', {href: `#/events/${encodeURIComponent(d.event_id)}`}, d.event_id)],
    ['Try', (d) => String(d.attempt_number)],
    ['Status', (d) => [badge(d.status), d.is_test ? ' test' : '']],
    ['Code', (d) => (d.response_status_code ?? '—')],
    ['Duration', (d) => ms(d.duration_ms)],
    ['Error', (d) => d.last_error || ''],
  ], rows, (d) => ({'data-delivery-id': d.id, 'data-event-id': d.event_id, class: fresh.has(d.id) ? 'new' : null}));
}
