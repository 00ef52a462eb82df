// Creating a webhook. The form shows the retry schedule its fields imply
// as they change; the answer is the one time the secret is shown whole.
import {api} from '../api.js';
import {h, replace, field, fieldError, notice} from '../dom.js';
import {schedule} from '../schedule.js';
import {forget} from '../directory.js';
import {scheduleList, secretShown} from './webhook.js';

const NUMBERS = [
  ['max_retries', 'Retries', 5, {min: 0, max: 20}, 'After the first attempt, at most 20.'],
  ['retry_delay_seconds', 'First wait (seconds)', 60, {min: 1, max: 86400}, null],
  ['backoff_multiplier', 'Backoff multiplier', 2, {min: 1, max: 10, step: 0.1}, 'Exponential backoff multiplies each wait by it.'],
  ['max_delay_seconds', 'Longest wait (seconds)', 3600, {min: 1, max: 604800}, null],
];
const ADVANCED = [
  ['jitter_percentage', 'Jitter', 0.1, {min: 0, max: 0.5, step: 0.05}, 'Spreads each wait by this fraction either way.'],
  ['timeout_seconds', 'Timeout (seconds)', 10, {min: 1, max: 30}, 'How long the receiver has to answer.'],
  ['rate_limit_per_minute', 'Deliveries a minute, at most', 60, {min: 1, max: 100000}, null],
  ['rate_limit_per_hour', 'Deliveries an hour, at most', 3600, {min: 1, max: 6000000}, null],
];

export async function newWebhook(ctx) {
  ctx.title('New webhook');
  const types = await api.get('/event-types');
  const form = h('form', {id: 'webhook-form', class: 'card', novalidate: true});
  const preview = h('div', {id: 'schedule-preview', 'aria-live': 'polite'});
  const errors = h('div', {id: 'form-errors'});
  const strategy = h('select', {name: 'retry_strategy'},
    ['exponential_backoff', 'linear_backoff', 'fixed_interval', 'no_retry'].map((s) => h('option', {value: s}, s.replaceAll('_', ' '))));
  const mode = h('select', {name: 'delivery_mode'},
    [['per_event', 'per event'], ['stream', 'stream (throughput)'], ['ordered', 'ordered (one at a time, in order)']].map(([v, l]) => h('option', {value: v}, l)));
  replace(form,
    field('Name', h('input', {name: 'name', type: 'text', required: true, maxlength: 200, autocomplete: 'off'})),
    field('URL', h('input', {name: 'url', type: 'url', required: true, placeholder: 'https://example.com/webhooks/loki'}),
      'https://; http:// only where the server allows it (loopback in herald dev).'),
    field('Description', h('textarea', {name: 'description', rows: 2, maxlength: 2000})),
    eventTypeChoice(types.event_types),
    h('fieldset', {}, h('legend', {}, 'Retries'), field('Strategy', strategy),
      NUMBERS.map(([name, label, def, attrs, hint]) => field(label, number(name, def, attrs), hint)), preview),
    h('details', {}, h('summary', {}, 'Timeout, rate limits and delivery mode'),
      ADVANCED.map(([name, label, def, attrs, hint]) => field(label, number(name, def, attrs), hint)), field('Delivery mode', mode)),
    errors,
    h('button', {type: 'submit', class: 'primary'}, 'Create webhook'));
  const showPreview = () => replace(preview, h('p', {}, 'Attempts this makes:'), scheduleList(schedule(values(form)), 0, 'schedule-preview-list'));
  form.addEventListener('input', showPreview);
  showPreview();
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit(form, errors, ctx);
  });
  replace(ctx.main, h('h1', {tabindex: '-1'}, 'New webhook'), form);
}

function number(name, def, attrs) {
  return h('input', {name, type: 'number', value: String(def), inputmode: 'decimal', ...attrs});
}

function eventTypeChoice(types) {
  const all = h('input', {type: 'checkbox', name: 'event_types', value: '*', id: 'type-all'});
  return h('fieldset', {id: 'event-types'}, h('legend', {}, 'Event types'),
    h('div', {class: 'checks'},
      h('label', {for: 'type-all'}, all, ' every type (*)'),
      types.map((t) => {
        const id = `type-${t.event_type.replace(/[^a-z0-9]/gi, '-')}`;
        return h('label', {for: id, title: t.description}, h('input', {type: 'checkbox', name: 'event_types', value: t.event_type, id}), ` ${t.event_type}`);
      })),
    h('p', {class: 'field-error', id: 'event-types-error', hidden: true}));
}

// values reads the form as the API's fields.
function values(form) {
  const data = new FormData(form);
  const out = {};
  for (const [name] of [...NUMBERS, ...ADVANCED]) out[name] = Number(data.get(name));
  out.retry_strategy = data.get('retry_strategy');
  out.delivery_mode = data.get('delivery_mode');
  return out;
}

async function submit(form, errors, ctx) {
  const data = new FormData(form);
  const types = data.getAll('event_types');
  const body = {name: data.get('name').trim(), url: data.get('url').trim(), description: data.get('description'),
    event_types: types.includes('*') ? ['*'] : types, ...values(form)};
  for (const el of form.querySelectorAll('[aria-invalid]')) fieldError(form, el.name, '');
  replace(errors);
  try {
    const w = await api.post('/webhooks', body);
    forget();
    replace(form.parentElement, h('h1', {tabindex: '-1'}, `Webhook ${w.name} created`),
      secretShown(w.secret, 'Herald shows it masked from now on; rotating it makes a new one.'),
      h('p', {}, h('a', {href: `#/webhooks/${w.id}`, id: 'open-webhook', class: 'button primary'}, 'Open the webhook'), ' ',
        h('a', {href: '#/webhooks'}, 'All webhooks')));
    ctx.main.querySelector('h1').focus();
  } catch (e) {
    showErrors(form, errors, e);
  }
}

// showErrors puts each field's message by its field, the rest above the
// button, and moves focus to the first problem.
function showErrors(form, errors, e) {
  const details = Array.isArray(e.details) ? e.details : [];
  const loose = [];
  for (const d of details) {
    const name = d.field.split(/[.[]/)[0];
    if (name === 'event_types') {
      const slot = document.getElementById('event-types-error');
      slot.textContent = d.message;
      slot.hidden = false;
    } else if (!fieldError(form, name, d.message)) {
      loose.push(`${d.field}: ${d.message}`);
    }
  }
  if (e.code === 'conflict') fieldError(form, 'name', e.message);
  replace(errors, notice('error', e.message, loose.length ? h('ul', {}, loose.map((l) => h('li', {}, l))) : null));
  (form.querySelector('[aria-invalid]') || errors).focus?.();
}
