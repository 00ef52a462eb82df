// Building the page. Every text goes in as text (textContent), never as
// HTML: what the API returns (payloads, receivers' answers, names) cannot
// become markup or script.

// h makes an element: h('a', {href: '#/', class: 'x'}, 'text', child, ...).
// Attributes named on* that hold functions become listeners; true sets a
// boolean attribute, false, null and undefined leave it out.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'value') {
      el.value = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// replace empties el and puts children in.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let seq = 0;
// uid is a fresh id for pairing a label or a hint with its control.
export function uid(prefix) {
  seq += 1;
  return `${prefix}-${seq}`;
}

// announce says text to screen readers through the page's live region.
export function announce(text) {
  const live = document.getElementById('live');
  if (!live) return;
  live.textContent = '';
  // A change after a tick is read even when the text repeats.
  setTimeout(() => { live.textContent = text; }, 50);
}

// badge shows a status as a word, coloured by kind: never colour alone.
export function badge(status, label) {
  return h('span', {class: `badge badge-${String(status).replace(/[^a-z_]/g, '')}`}, label || String(status).replaceAll('_', ' '));
}

// field is a labelled control with an optional hint and a slot for its
// error, both tied to it with aria-describedby.
export function field(label, control, hint) {
  const id = control.id || uid('f');
  control.id = id;
  const hintEl = hint ? h('p', {class: 'hint', id: `${id}-hint`}, hint) : null;
  const errorEl = h('p', {class: 'field-error', id: `${id}-error`, hidden: true});
  control.setAttribute('aria-describedby', [hintEl && hintEl.id, errorEl.id].filter(Boolean).join(' '));
  return h('div', {class: 'field'}, h('label', {for: id}, label), control, hintEl, errorEl);
}

// fieldError shows (or with '' clears) the error of the control named name
// inside form.
export function fieldError(form, name, message) {
  const control = form.querySelector(`[name="${name}"]`);
  const slot = control && document.getElementById(`${control.id}-error`);
  if (!slot) return false;
  slot.textContent = message;
  slot.hidden = !message;
  if (message) control.setAttribute('aria-invalid', 'true');
  else control.removeAttribute('aria-invalid');
  return true;
}

// json shows a value as indented JSON in a scrollable block.
export function json(value, label) {
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return h('pre', {class: 'code', tabindex: '0', 'aria-label': label || 'JSON'}, text ?? '');
}

// dl is a description list of [term, value] pairs; empty values show a dash.
export function dl(pairs) {
  return h('dl', {class: 'facts'}, pairs.filter(Boolean).map(([term, value]) => [
    h('dt', {}, term), h('dd', {}, value === '' || value === null || value === undefined ? '—' : value),
  ]));
}

// table makes a data table: columns are [heading, cell(row)] pairs.
export function table(caption, columns, rows, rowAttrs) {
  return h('div', {class: 'table-wrap'}, h('table', {},
    h('caption', {class: 'visually-hidden'}, caption),
    h('thead', {}, h('tr', {}, columns.map(([heading]) => h('th', {scope: 'col'}, heading)))),
    h('tbody', {}, rows.length === 0
      ? h('tr', {}, h('td', {colspan: columns.length, class: 'empty'}, 'Nothing yet.'))
      : rows.map((row) => h('tr', rowAttrs ? rowAttrs(row) : {}, columns.map(([, cell]) => h('td', {}, cell(row))))))));
}

// notice is a message block; kind error is an alert screen readers read at once.
export function notice(kind, ...children) {
  return h('div', {class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status'}, ...children);
}

// confirmButton asks once more before running action: the first press
// turns it into "Really …?", the second runs it. No modal dialog.
export function confirmButton(label, confirmLabel, action, attrs = {}) {
  let armed = false;
  const button = h('button', {type: 'button', ...attrs}, label);
  button.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      button.textContent = confirmLabel;
      button.classList.add('armed');
      setTimeout(() => { if (armed) { armed = false; button.textContent = label; button.classList.remove('armed'); } }, 5000);
      return;
    }
    armed = false;
    button.textContent = label;
    button.classList.remove('armed');
    await action();
  });
  return button;
}
