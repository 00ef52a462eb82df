// The webhooks and their health.
import {api} from '../api.js';
import {h, replace, badge, table} from '../dom.js';
import {can} from '../session.js';
import {pct, time} from '../format.js';

export async function webhooks(ctx) {
  ctx.title('Webhooks');
  const statusFilter = ctx.query.status || '';
  const select = h('select', {id: 'status-filter'},
    ['', 'active', 'paused', 'inactive'].map((s) => h('option', {value: s, selected: s === statusFilter}, s || 'any status')));
  select.addEventListener('change', () => { window.location.hash = select.value ? `#/webhooks?status=${select.value}` : '#/webhooks'; });
  const list = h('div', {id: 'webhook-list'});
  replace(ctx.main,
    h('div', {class: 'page-head'}, h('h1', {tabindex: '-1'}, 'Webhooks'),
      can('write') ? h('a', {href: '#/webhooks/new', class: 'button primary', id: 'new-webhook'}, 'New webhook') : null),
    h('div', {class: 'toolbar'}, h('label', {for: 'status-filter'}, 'Show'), select),
    list);
  const refresh = async () => {
    const [page, figures] = await Promise.all([
      api.get('/webhooks', {limit: 1000, status: statusFilter}),
      api.get('/analytics', {period_days: 7}),
    ]);
    const byID = new Map(figures.by_webhook.map((f) => [f.webhook_id, f]));
    replace(list, table('Webhooks and their health', [
      ['Name', (w) => h('a', {href: `#/webhooks/${w.id}`}, w.name)],
      ['Status', (w) => health(w)],
      ['Success rate (7 days)', (w) => (byID.get(w.id) ? pct(byID.get(w.id).success_rate) : 'no deliveries')],
      ['Last triggered', (w) => time(w.last_triggered_at)],
      ['Failed in a row', (w) => String(w.consecutive_failures)],
      ['Event types', (w) => w.event_types.join(', ')],
      ['URL', (w) => h('code', {}, w.url)],
    ], page.webhooks));
  };
  await refresh();
  ctx.every(10000, refresh);
}

// health is the status, with the circuit breaker named when it paused it.
export function health(w) {
  if (w.status === 'paused' && w.paused_by_delivery) return badge('breaker', 'paused by breaker');
  if (w.status === 'active' && w.consecutive_failures > 0) return badge('failing', 'active, failing');
  return badge(w.status);
}
