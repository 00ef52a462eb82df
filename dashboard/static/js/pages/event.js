// One event: its payload, and where its delivery to every subscriber
// stands, live from the workflow delivering it.
import {api} from '../api.js';
import {h, replace, dl, json, table, badge, notice} from '../dom.js';
import {subscribers, subscriberHref} from '../directory.js';
import {workflowURL} from '../session.js';
import {time, when} from '../format.js';
import {outcome} from './events.js';

export async function eventPage(ctx) {
  const eventID = ctx.params[0];
  ctx.title(`Event ${eventID}`);
  const parts = {facts: h('div'), subs: h('div'), steps: h('div'), payload: h('div')};
  replace(ctx.main, h('h1', {tabindex: '-1'}, `Event ${eventID}`),
    parts.facts,
    h('section', {'aria-labelledby': 'subs-h'}, h('h2', {id: 'subs-h'}, 'Subscribers'), parts.subs),
    h('section', {'aria-labelledby': 'steps-h'}, h('h2', {id: 'steps-h'}, 'Timeline'), parts.steps),
    h('section', {'aria-labelledby': 'payload-h'}, h('h2', {id: 'payload-h'}, 'Payload'), parts.payload));
  const path = `/events/${encodeURIComponent(eventID)}`;
  const refresh = async () => {
    const [e, subs, timeline] = await Promise.all([api.get(path), subscribers(),
      api.get(`${path}/timeline`).catch((err) => ({error: err.message}))]);
    const runID = timeline.timeline ? timeline.timeline.filter((s) => s.run_id).map((s) => s.run_id).pop() : '';
    const link = workflowURL(e.workflow_id, runID);
    replace(parts.facts, dl([
      ['Type', e.event_type], ['Source', [e.source, e.source_id ? ` / ${e.source_id}` : '']],
      ['Accepted', when(e.created_at)], ['Finished', e.processed_at ? when(e.processed_at) : 'not yet'],
      ['Deliveries', outcome(e)],
      ['Workflow', link ? h('a', {href: link, target: '_blank', rel: 'noopener', id: 'temporal-link'}, `${e.workflow_id} in the Temporal UI`) : e.workflow_id],
    ]));
    replace(parts.subs, subscriberTable(e, new Map(subs.map((s) => [s.id, s]))));
    replace(parts.steps, timeline.error ? notice('error', `The timeline cannot be read: ${timeline.error}`)
      : h('ol', {class: 'timeline'}, timeline.timeline.map((s) => h('li', {}, time(s.time), ' ', badge(s.kind),
        s.webhook_id ? ` ${subs.find((x) => x.id === s.webhook_id)?.name ?? `subscriber ${s.webhook_id}`}` : '',
        s.attempt ? ` attempt ${s.attempt}` : '', s.status_code ? ` HTTP ${s.status_code}` : '', s.detail ? ` — ${s.detail}` : ''))));
    replace(parts.payload, json(e.payload, 'Payload'));
  };
  await refresh();
  ctx.every(3000, refresh);
}

function subscriberTable(e, subs) {
  return table('Each subscriber and where its delivery stands', [
    ['Subscriber', (d) => {
      const sub = subs.get(d.webhook_id);
      return sub ? h('a', {href: subscriberHref(sub)}, sub.name) : `subscriber ${d.webhook_id} (deleted)`;
    }],
    ['Status', (d) => badge(d.status)],
    ['Live state', (d) => (d.state ? badge(d.state) : '—')],
    ['Attempts', (d) => String(d.attempts)],
    ['Last answer', (d) => (d.response_status_code ?? '—')],
    ['Next attempt', (d) => (d.next_attempt_at || d.next_retry_at ? time(d.next_attempt_at || d.next_retry_at) : '—')],
    ['Error', (d) => d.last_error || ''],
    ['Latest attempt', (d) => (d.last_delivery_id ? h('a', {href: `#/deliveries/${d.webhook_id}/${d.last_delivery_id}`}, `#${d.last_delivery_id}`) : '—')],
  ], e.deliveries, (d) => ({'data-subscriber': d.webhook_id}));
}
