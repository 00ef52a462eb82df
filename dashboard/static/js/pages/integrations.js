// The integrations (Slack, Teams, email, Zapier, generic webhooks): their
// health and figures.
import {api} from '../api.js';
import {h, replace, table, badge, notice} from '../dom.js';
import {num, pct, time} from '../format.js';

export async function integrations(ctx) {
  ctx.title('Integrations');
  const list = h('div', {id: 'integration-list'});
  const overall = h('div');
  replace(ctx.main, h('h1', {tabindex: '-1'}, 'Integrations'), overall, list);
  const refresh = async () => {
    const [page, health, metrics] = await Promise.all([api.get('/integrations', {limit: 1000}),
      api.get('/integrations/health'), api.get('/integrations/metrics')]);
    replace(overall, notice(health.status === 'healthy' ? 'ok' : 'error',
      `Integrations are ${health.status}: ${num(metrics.active_integrations)} of ${num(metrics.total_integrations)} active, `,
      `${num(metrics.total_sent)} messages delivered, ${num(metrics.total_failed)} failed for good.`));
    replace(list, table('Integrations, their health and figures', [
      ['Name', (i) => h('a', {href: `#/deliveries?webhook=${i.id}`, title: 'Its deliveries'}, i.name)],
      ['Type', (i) => i.integration_type],
      ['Health', (i) => badge(health.integrations[i.name]?.status || 'idle')],
      ['Last event', (i) => time(health.integrations[i.name]?.last_event)],
      ['Delivered', (i) => num(metrics.integrations[i.name]?.sent)],
      ['Failed', (i) => num(metrics.integrations[i.name]?.failed)],
      ['Retried', (i) => num(metrics.integrations[i.name]?.retried)],
      ['Success rate', (i) => pct(metrics.integrations[i.name]?.success_rate)],
      ['Subscriptions', (i) => i.event_subscriptions.join(', ')],
      ['Last error', (i) => health.integrations[i.name]?.last_error || health.integrations[i.name]?.error || ''],
    ], page.integrations));
  };
  await refresh();
  ctx.every(10000, refresh);
}
