// The overview: delivery rates, success, latency and what waits, over
// time; the LOKI guide's key metrics against its targets; and the
// subscribers that need attention.
import {api} from '../api.js';
import {h, replace, badge, notice} from '../dom.js';
import {lineChart} from '../charts.js';
import {subscribers} from '../directory.js';
import {duration, ms, num, pct} from '../format.js';

// RANGES: how far back the charts look, as intervals the API adds up.
const RANGES = {
  '1h': {label: 'Last hour', series: 60, minutes: 1, days: 1},
  '6h': {label: 'Last 6 hours', series: 72, minutes: 5, days: 1},
  '24h': {label: 'Last 24 hours', series: 96, minutes: 15, days: 1},
  '7d': {label: 'Last 7 days', series: 84, minutes: 120, days: 7},
};

export async function overview(ctx) {
  ctx.title('Overview');
  const rangeKey = RANGES[ctx.query.range] ? ctx.query.range : '1h';
  const range = RANGES[rangeKey];
  const select = h('select', {id: 'range', name: 'range'},
    Object.entries(RANGES).map(([k, r]) => h('option', {value: k, selected: k === rangeKey}, r.label)));
  select.addEventListener('change', () => { window.location.hash = `#/?range=${select.value}`; });
  const tiles = h('div', {class: 'tiles', id: 'kpis'});
  const figures = ['deliveries', 'success', 'latency', 'waiting'].map((name) => h('div', {class: 'chart', id: `chart-${name}`}));
  const attention = h('div', {id: 'attention'});
  const status = h('div', {class: 'refresh-status', role: 'status'});
  replace(ctx.main,
    h('h1', {tabindex: '-1'}, 'Overview'),
    h('div', {class: 'toolbar'}, h('label', {for: 'range'}, 'Charts show'), select, status),
    h('section', {'aria-labelledby': 'kpi-h'}, h('h2', {id: 'kpi-h'}, `Key metrics, last ${range.days === 1 ? '24 hours' : '7 days'}`), tiles),
    h('section', {'aria-labelledby': 'charts-h'}, h('h2', {id: 'charts-h'}, `Deliveries over time: ${range.label.toLowerCase()}`),
      h('div', {class: 'charts'},
        figure('Deliveries per minute', figures[0]), figure('Success rate', figures[1]),
        figure('Response time: p50 and p95', figures[2]), figure('Deliveries waiting', figures[3]))),
    h('section', {'aria-labelledby': 'attention-h'}, h('h2', {id: 'attention-h'}, 'Needs attention'), attention));
  const draw = drawer(figures, range);
  const refresh = async () => {
    const [data, subs] = await Promise.all([
      api.get('/analytics', {period_days: range.days, series: range.series, interval_minutes: range.minutes}),
      subscribers(true),
    ]);
    replace(tiles, kpis(data));
    draw(data);
    replace(attention, attentionList(subs, data.by_webhook));
    status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  };
  ctx.onRefreshError = (e) => { status.textContent = `Not updated: ${e.message}`; };
  await refresh();
  ctx.every(10000, refresh);
}

function figure(caption, chart) {
  return h('figure', {class: 'card'}, h('figcaption', {}, caption), chart);
}

// drawer keeps the four charts and draws them again with each answer.
function drawer(figures, range) {
  const charts = {};
  return (data) => {
    const sets = chartData(data, range);
    for (const [i, [name, spec]] of Object.entries(chartSpecs(range)).entries()) {
      if (charts[name]) charts[name].update(sets[name]);
      else charts[name] = lineChart(figures[i], name, spec, sets[name]);
    }
  };
}

function chartSpecs(range) {
  const per = range.minutes === 1 ? 'a minute' : `a minute (averaged over ${range.minutes} min)`;
  return {
    deliveries: {title: `Deliveries per minute`, unit: '', series: [{label: 'attempts'}, {label: 'delivered'}, {label: 'failed for good'}],
      summary: (d) => `Attempts ${per}: at most ${num(max(d[1]))}; delivered at most ${num(max(d[2]))}; failed for good at most ${num(max(d[3]))}.`},
    success: {title: 'Success rate', unit: ' %', range: [0, 100], series: [{label: 'success rate'}],
      summary: (d) => `Lowest success rate in an interval: ${pct(min(d[1]))}.`},
    latency: {title: 'Response time', unit: ' ms', series: [{label: 'p50'}, {label: 'p95'}],
      summary: (d) => `Highest p95: ${ms(max(d[2]))}; highest p50: ${ms(max(d[1]))}.`},
    waiting: {title: 'Deliveries waiting', unit: '', series: [{label: 'waiting'}],
      summary: (d) => `Now ${num(d[1][d[1].length - 1])}; at most ${num(max(d[1]))} at the end of an interval.`},
  };
}

function max(values) {
  const v = values.filter((x) => x !== null && x !== undefined);
  return v.length ? Math.max(...v) : null;
}

function min(values) {
  const v = values.filter((x) => x !== null && x !== undefined);
  return v.length ? Math.min(...v) : null;
}

// chartData turns the series into uPlot's columns: times in seconds, then
// one array per line. What waited is a count at each interval's end (the
// one under way ends now), the other lines figures of the whole interval.
function chartData(data, range) {
  const xs = data.series.map((p) => Date.parse(p.from) / 1000);
  const now = Date.parse(data.waiting.at);
  const ends = data.series.map((p) => Math.min(Date.parse(p.to), now) / 1000);
  const per = (n) => n / range.minutes;
  const p50 = data.series.map((p) => p.p50_response_time_ms);
  return {
    deliveries: [xs, data.series.map((p) => per(p.total_attempts)), data.series.map((p) => per(p.successful_deliveries)),
      data.series.map((p) => per(p.failed_deliveries))],
    success: [xs, data.series.map((p) => (p.total_events > 0 ? p.success_rate : null))],
    latency: [xs, p50, data.series.map((p) => (p.total_attempts > 0 && p.p95_response_time_ms > 0 ? p.p95_response_time_ms : null))],
    waiting: [ends, data.series.map((p) => p.waiting_deliveries)],
  };
}

// kpis are the LOKI guide's key metrics, each against its target.
function kpis(data) {
  const o = data.overall;
  const retryRate = o.total_attempts > 0 ? (100 * o.retry_count) / o.total_attempts : null;
  const has = o.total_events > 0;
  return [
    tile('Success rate', has ? pct(o.success_rate) : '—', 'target above 99 %', has ? o.success_rate > 99 : null),
    tile('Deliveries', num(o.total_events), `${num(o.failed_deliveries)} failed for good`, null),
    tile('Average response', has ? ms(o.avg_response_time_ms) : '—', 'target below 500 ms', has ? o.avg_response_time_ms < 500 : null),
    tile('p95 response', has ? ms(o.p95_response_time_ms) : '—', 'target below 2,000 ms', has ? o.p95_response_time_ms < 2000 : null),
    tile('Retries, of all attempts', pct(retryRate), 'target below 5 %', retryRate === null ? null : retryRate < 5),
    tile('Waiting now', num(data.waiting.deliveries), `${num(data.waiting.webhooks_paused)} subscriber(s) paused; alert above 1,000`,
      data.waiting.deliveries <= 1000),
  ];
}

function tile(label, value, note, ok) {
  const state = ok === null ? '' : ok ? 'meets its target' : 'misses its target';
  return h('div', {class: `tile${ok === false ? ' tile-bad' : ''}`},
    h('p', {class: 'tile-label'}, label), h('p', {class: 'tile-value'}, value),
    h('p', {class: 'tile-note'}, note, state ? ` (${state})` : ''));
}

const DAY_MS = 24 * 3600 * 1000;

// attentionList names the subscribers that need someone: failing, paused
// (by the circuit breaker or by hand), or not triggered for a day.
function attentionList(subs, byWebhook) {
  const figures = new Map(byWebhook.map((f) => [f.webhook_id, f]));
  const items = subs.map((sub) => ({sub, reasons: reasons(sub.item, figures.get(sub.id))})).filter((x) => x.reasons.length);
  if (items.length === 0) return notice('ok', 'Every subscriber is active, delivering and triggered within the last 24 hours.');
  return h('ul', {class: 'attention'}, items.map(({sub, reasons: rs}) => h('li', {},
    h('a', {href: sub.kind === 'webhook' ? `#/webhooks/${sub.id}` : '#/integrations'}, sub.name),
    ` (${sub.kind}) `, rs.map(([kind, text]) => h('span', {class: 'reason'}, badge(kind), ' ', text)))));
}

function reasons(w, st) {
  const out = [];
  if (w.status === 'paused') {
    out.push(w.paused_by_delivery ? ['breaker', `paused by the circuit breaker after ${w.consecutive_failures} deliveries failed in a row`]
      : ['paused', `paused${w.status_reason ? `: ${w.status_reason}` : ''}`]);
  } else if (w.consecutive_failures > 0) {
    out.push(['failing', `${w.consecutive_failures} deliveries in a row failed for good`]);
  }
  if (st && st.total_events > 0 && st.success_rate < 95) {
    out.push(['failing', `success rate ${pct(st.success_rate)} over the last day (the LOKI guide alerts below 95 %)`]);
  }
  const last = Date.parse(w.last_triggered_at || w.created_at);
  if (w.status === 'active' && Date.now() - last > DAY_MS) {
    out.push(['idle', `not triggered for ${duration((Date.now() - last) / 1000)}`]);
  }
  return out;
}
