// Recent events and how their deliveries went.
import {api} from '../api.js';
import {h, replace, table, badge} from '../dom.js';
import {time} from '../format.js';

export async function events(ctx) {
  ctx.title('Events');
  const types = await api.get('/event-types');
  const select = h('select', {id: 'event-type-filter'}, h('option', {value: ''}, 'every type'),
    types.event_types.map((t) => h('option', {value: t.event_type, selected: t.event_type === ctx.query.event_type}, t.event_type)));
  select.addEventListener('change', () => {
    window.location.hash = select.value ? `#/events?event_type=${encodeURIComponent(select.value)}` : '#/events';
  });
  const list = h('div', {id: 'event-list'});
  replace(ctx.main, h('h1', {tabindex: '-1'}, 'Events'),
    h('div', {class: 'toolbar'}, h('label', {for: 'event-type-filter'}, 'Show'), select), list);
  const refresh = async () => {
    const page = await api.get('/events', {event_type: ctx.query.event_type, limit: 100});
    replace(list, table('Recent events, newest first', [
      ['Event', (e) => h('a', {href: `#/events/${encodeURIComponent(e.event_id)}`}, e.event_id)],
      ['Type', (e) => e.event_type],
      ['Source', (e) => [e.source, e.source_id ? ` / ${e.source_id}` : '']],
      ['Accepted', (e) => time(e.created_at)],
      ['Deliveries', (e) => outcome(e)],
      ['Finished', (e) => (e.processed_at ? time(e.processed_at) : badge('pending', 'under way'))],
    ], page.events));
  };
  await refresh();
  ctx.every(5000, refresh);
}

// outcome counts an event's deliveries: delivered and failed of all.
export function outcome(e) {
  const open = e.total_deliveries - e.successful_deliveries - e.failed_deliveries;
  return `${e.successful_deliveries} delivered, ${e.failed_deliveries} failed${open > 0 ? `, ${open} under way` : ''} (of ${e.total_deliveries})`;
}
