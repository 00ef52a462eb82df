// One delivery attempt: where its delivery stands, every attempt of it and
// the workflow's steps between them, the request (signatures included) and
// the answer; retry it now or cancel it.
import {api} from '../api.js';
import {h, replace, badge, dl, json, notice, table, confirmButton} from '../dom.js';
import {subscriber, subscriberHref} from '../directory.js';
import {can, workflowURL} from '../session.js';
import {ms, time, when} from '../format.js';

// SIGNATURE_HEADERS are the ones a receiver checks (README: what a
// receiver gets).
const SIGNATURE_HEADERS = ['x-webhook-signature', 'webhook-id', 'webhook-timestamp', 'webhook-signature'];

export async function deliveryPage(ctx) {
  const [subID, id] = ctx.params.map(Number);
  const sub = await subscriber(subID);
  if (!sub) throw new Error(`No webhook or integration ${subID}.`);
  ctx.title(`Delivery #${id}`);
  const parts = {head: h('div', {class: 'page-head'}), live: h('div'), attempts: h('div'), steps: h('div'), request: h('div'), response: h('div')};
  const result = h('div', {id: 'action-result'});
  replace(ctx.main, parts.head,
    can('write') ? h('section', {class: 'card', 'aria-labelledby': 'ops-h'}, h('h2', {id: 'ops-h'}, 'Operate'), operate(ctx, sub, id, result), result) : null,
    h('section', {'aria-labelledby': 'live-h'}, h('h2', {id: 'live-h'}, 'Where it stands'), parts.live),
    h('section', {'aria-labelledby': 'attempts-h'}, h('h2', {id: 'attempts-h'}, 'Attempts'), parts.attempts),
    h('section', {'aria-labelledby': 'steps-h'}, h('h2', {id: 'steps-h'}, 'Workflow steps'), parts.steps),
    h('div', {class: 'columns'},
      h('section', {class: 'card', 'aria-labelledby': 'req-h'}, h('h2', {id: 'req-h'}, 'Request'), parts.request),
      h('section', {class: 'card', 'aria-labelledby': 'resp-h'}, h('h2', {id: 'resp-h'}, 'Response'), parts.response)));
  const refresh = async () => {
    const current = ctx.ticket();
    const d = await api.get(`${sub.base}/deliveries/${id}`);
    const [all, event, timeline] = await Promise.all([
      api.get(`${sub.base}/deliveries`, {event_id: d.event_id, limit: 100}),
      d.is_test ? null : api.get(`/events/${encodeURIComponent(d.event_id)}`).catch(() => null),
      d.is_test ? null : api.get(`/events/${encodeURIComponent(d.event_id)}/timeline`).catch((e) => ({error: e.message})),
    ]);
    if (!current()) return;
    replace(parts.head, h('h1', {tabindex: '-1'}, `Delivery #${d.id}`), h('span', {}, 'this attempt: ', badge(d.status)), d.is_test ? badge('test') : '');
    replace(parts.live, liveState(d, sub, event, timeline));
    replace(parts.attempts, attemptsTable(sub, all.deliveries, d.id));
    replace(parts.steps, steps(timeline, subID));
    replace(parts.request, request(d));
    replace(parts.response, response(d));
  };
  ctx.refresh = refresh;
  ctx.onRefreshError = (e) => replace(parts.live, notice('error', `Not updated: ${e.message}`));
  await refresh();
  ctx.every(2000, refresh);
}

function operate(ctx, sub, id, result) {
  const done = (what) => (r) => {
    const state = r.state ? `; it is ${r.state.state.replaceAll('_', ' ')} now` : '';
    replace(result, notice('ok', `${what} (${r.action})${state}.`));
    return ctx.refresh();
  };
  const failed = (e) => replace(result, notice('error', e.message));
  const retry = h('button', {type: 'button', id: 'retry-now', class: 'primary'}, 'Retry now');
  retry.addEventListener('click', () => {
    retry.disabled = true;
    replace(result, notice('info', 'Asking the workflow to retry…'));
    api.post(`${sub.base}/deliveries/${id}/retry`).then(done('Retried'), failed).finally(() => { retry.disabled = false; });
  });
  const cancel = confirmButton('Cancel delivery', 'Stop every further attempt? Press again', () =>
    api.post(`${sub.base}/deliveries/${id}/cancel`).then(done('Cancelled'), failed), {id: 'cancel', class: 'danger'});
  return h('div', {class: 'actions'}, retry, cancel,
    h('p', {class: 'hint'}, 'Retry now: a delivery waiting for its next attempt goes at once; one that failed for good starts over with its retry schedule. Cancel: one that waits makes no further attempt.'));
}

function liveState(d, sub, event, timeline) {
  const live = d.live;
  const runID = timeline && timeline.timeline ? timeline.timeline.filter((s) => s.run_id).map((s) => s.run_id).pop() : '';
  const wfID = sub.item.delivery_mode && sub.item.delivery_mode !== 'per_event' ? `stream/${sub.id}` : event && event.workflow_id;
  const link = wfID ? workflowURL(wfID, wfID.startsWith('event/') ? runID : '') : '';
  return dl([
    ['Subscriber', h('a', {href: subscriberHref(sub)}, `${sub.name} (${sub.kind})`)],
    ['Event', d.is_test ? `${d.event_id} (a test)` : h('a', {href: `#/events/${encodeURIComponent(d.event_id)}`}, d.event_id)],
    ['Event type', d.event_type],
    ['Live state', live ? [badge(live.state), ` after ${live.attempts} attempt(s) of at most ${live.last_attempt}`,
      live.next_attempt_at ? ['; next ', time(live.next_attempt_at)] : ''] : d.live_error ? `unknown: ${d.live_error}` : 'ended'],
    ['Workflow', link ? h('a', {href: link, id: 'temporal-link', target: '_blank', rel: 'noopener'}, `${wfID} in the Temporal UI`) : (wfID || '—')],
  ]);
}

function attemptsTable(sub, rows, current) {
  const sorted = [...rows].sort((a, b) => a.attempt_number - b.attempt_number || a.id - b.id);
  // Only the latest attempt's next_retry_at is still a plan.
  const latest = sorted.length ? sorted[sorted.length - 1].id : 0;
  return table('Every attempt of this delivery, first to last', [
    ['Try', (d) => (d.id === current ? h('strong', {}, `${d.attempt_number} (this one)`) : String(d.attempt_number))],
    ['Attempt', (d) => h('a', {href: `#/deliveries/${sub.id}/${d.id}`}, `#${d.id}`)],
    ['Sent', (d) => time(d.sent_at || d.created_at)],
    ['Status', (d) => badge(d.status)],
    ['Code', (d) => (d.response_status_code ?? '—')],
    ['Duration', (d) => ms(d.duration_ms)],
    ['Next attempt', (d) => (d.id === latest && d.next_retry_at ? time(d.next_retry_at) : '—')],
    ['Error', (d) => d.last_error || ''],
  ], sorted, (d) => ({class: 'attempt-row', 'data-attempt': d.attempt_number}));
}

// steps are the event workflow's timeline entries for this subscriber:
// waits, signals, holds, each attempt.
function steps(timeline, subID) {
  if (!timeline) return h('p', {}, 'A test delivery has no workflow.');
  if (timeline.error) return notice('error', `The timeline cannot be read: ${timeline.error}`);
  const mine = timeline.timeline.filter((s) => s.webhook_id === undefined || s.webhook_id === subID);
  return [timeline.note ? notice('info', timeline.note) : null, h('ol', {class: 'timeline', id: 'workflow-steps'}, mine.map((s) => h('li', {},
    time(s.time), ' ', badge(s.kind), s.attempt ? ` attempt ${s.attempt}` : '', s.status_code ? ` HTTP ${s.status_code}` : '',
    s.until ? ` until ${when(s.until)}` : '', s.detail ? ` — ${s.detail}` : '')))];
}

function headerTable(caption, headers) {
  const rows = Object.entries(headers || {}).sort(([a], [b]) => a.localeCompare(b));
  return table(caption, [
    ['Header', ([k]) => (SIGNATURE_HEADERS.includes(k.toLowerCase()) ? [h('code', {}, k), ' ', badge('signature')] : h('code', {}, k))],
    ['Value', ([, v]) => h('code', {class: 'wrap'}, v)],
  ], rows);
}

function request(d) {
  return [dl([['URL', h('code', {}, d.url)], ['Attempt', String(d.attempt_number)], ['Sent', when(d.sent_at)],
    ['Signature', h('code', {class: 'wrap', id: 'signature'}, d.signature)]]),
  h('h3', {}, 'Headers'), headerTable('Request headers', d.request_headers),
  h('h3', {}, 'Body'), json(d.request_body, 'Request body')];
}

function response(d) {
  return [dl([['Status', d.response_status_code ?? 'no answer'], ['Answered', when(d.responded_at)], ['Took', ms(d.duration_ms)],
    ['Error', d.last_error ? `${d.last_error}${d.error_class ? ` (${d.error_class})` : ''}` : '']]),
  h('h3', {}, 'Headers'), headerTable('Response headers', d.response_headers),
  h('h3', {}, 'Body'), json(d.response_body || '', 'Response body')];
}
