// The event types: what each carries, an example, its JSON Schema.
import {api} from '../api.js';
import {h, replace, json, table, badge} from '../dom.js';

export async function eventTypes(ctx) {
  ctx.title('Event types');
  const {event_types: types} = await api.get('/event-types');
  replace(ctx.main, h('h1', {tabindex: '-1'}, 'Event types'),
    table('Event types', [
      ['Type', (t) => h('a', {href: `#/event-types/${encodeURIComponent(t.event_type)}`}, t.event_type)],
      ['Description', (t) => t.description],
      ['Fields', (t) => (t.fields || []).map((f) => f.name).join(', ')],
      ['Kind', (t) => (t.builtin ? badge(t.extended ? 'extended' : 'builtin', t.extended ? 'built in, extended' : 'built in') : badge('custom'))],
    ], types));
}

export async function eventTypePage(ctx) {
  const name = ctx.params[0];
  ctx.title(name);
  const path = `/event-types/${encodeURIComponent(name)}`;
  const [t, schema] = await Promise.all([api.get(path), api.get(`${path}/schema`)]);
  replace(ctx.main, h('h1', {tabindex: '-1'}, t.event_type),
    h('p', {}, t.description), t.triggered_when ? h('p', {}, `Sent when ${t.triggered_when}`) : null,
    h('section', {'aria-labelledby': 'fields-h'}, h('h2', {id: 'fields-h'}, 'Payload fields'),
      table(`Fields of ${t.event_type}`, [
        ['Field', (f) => h('code', {}, f.name)],
        ['Type', (f) => f.type],
        ['Required', (f) => (f.required ? 'yes' : 'no')],
        ['Allowed', (f) => (f.enum ? f.enum.join(', ') : [f.min !== undefined ? `≥ ${f.min}` : '', f.max !== undefined ? ` ≤ ${f.max}` : ''])],
        ['Also accepted as', (f) => (f.aliases || []).join(', ')],
        ['Description', (f) => f.description],
      ], t.fields || [])),
    h('section', {'aria-labelledby': 'example-h'}, h('h2', {id: 'example-h'}, 'Example payload'), json(t.example, 'Example payload')),
    h('section', {'aria-labelledby': 'schema-h'}, h('h2', {id: 'schema-h'}, 'JSON Schema'),
      h('details', {}, h('summary', {}, `The schema payloads are checked against (${t.schema_url})`), json(schema, 'JSON Schema'))));
}
