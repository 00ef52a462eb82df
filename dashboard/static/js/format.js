// How figures and times read on the page.

const dateTime = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'medium'});
const timeOnly = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit', second: '2-digit'});
const number = new Intl.NumberFormat(undefined, {maximumFractionDigits: 1});

export function when(iso) {
  if (!iso) return '—';
  return dateTime.format(new Date(iso));
}

export function clock(iso) {
  if (!iso) return '—';
  return timeOnly.format(new Date(iso));
}

// ago is how long ago (or, for a future time, in how long) iso is.
export function ago(iso, now = Date.now()) {
  if (!iso) return 'never';
  const secs = Math.round((now - new Date(iso).getTime()) / 1000);
  const text = duration(Math.abs(secs));
  return secs >= 0 ? `${text} ago` : `in ${text}`;
}

// time is an element showing a time both ways: when, and how long ago.
export function time(iso) {
  const el = document.createElement('time');
  if (!iso) {
    el.textContent = '—';
    return el;
  }
  el.dateTime = iso;
  el.title = when(iso);
  el.textContent = ago(iso);
  return el;
}

// duration reads seconds as people say them: 45 s, 2 min, 1 h 30 min, 2 d.
export function duration(secs) {
  if (secs < 1) return `${number.format(secs)} s`;
  if (secs < 60) return `${Math.round(secs)} s`;
  if (secs < 3600) {
    const m = Math.floor(secs / 60);
    const s = Math.round(secs % 60);
    return s ? `${m} min ${s} s` : `${m} min`;
  }
  if (secs < 86400) {
    const hrs = Math.floor(secs / 3600);
    const m = Math.round((secs % 3600) / 60);
    return m ? `${hrs} h ${m} min` : `${hrs} h`;
  }
  const d = Math.floor(secs / 86400);
  const hrs = Math.round((secs % 86400) / 3600);
  return hrs ? `${d} d ${hrs} h` : `${d} d`;
}

export function ms(value) {
  if (value === null || value === undefined) return '—';
  return `${number.format(value)} ms`;
}

export function pct(value) {
  if (value === null || value === undefined) return '—';
  return `${number.format(value)} %`;
}

export function num(value) {
  if (value === null || value === undefined) return '—';
  return number.format(value);
}
