// Pages by the URL's fragment (#/webhooks/3): the server serves one page,
// and a link to any view can be shared or bookmarked. A page renders into
// <main> and refreshes itself with ctx.every; leaving it stops its timers.
import {dropCharts} from './charts.js';
import {h, replace, notice} from './dom.js';

const routes = [];
let current = null;

// route adds a page: pattern matches the path, its groups are the params.
export function route(pattern, page) {
  routes.push({pattern, page});
}

// parse splits "#/deliveries?status=failed" into path and query.
export function parse(hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?', 2);
  return {path: path || '/', query: Object.fromEntries(new URLSearchParams(qs || ''))};
}

// go shows the page for location.hash. Fragments that are not paths (the
// skip link's #main) are not pages: they stay with the page shown.
export async function go({focus = true} = {}) {
  const hash = window.location.hash;
  if (hash && !hash.startsWith('#/')) return;
  const {path, query} = parse(hash);
  leave();
  const main = document.getElementById('main');
  const found = routes.map((r) => ({r, m: path.match(r.pattern)})).find((x) => x.m);
  markNav(path);
  if (!found) {
    replace(main, h('h1', {tabindex: '-1'}, 'Not found'), h('p', {}, 'No page here. ', h('a', {href: '#/'}, 'Go to the overview.')));
    return;
  }
  const ctx = context(main, found.m.slice(1).map(decodeURIComponent), query);
  current = ctx;
  try {
    await found.r.page(ctx);
  } catch (e) {
    if (ctx.left) return;
    replace(main, h('h1', {tabindex: '-1'}, 'Something went wrong'), notice('error', e.message));
  }
  if (focus && !ctx.left) main.querySelector('h1')?.focus();
}

function context(main, params, query) {
  const ctx = {main, params, query, timers: [], left: false};
  ctx.title = (text) => { document.title = `${text} · Herald`; };
  // ticket orders a page's refreshes beside those of every: one that
  // answers after a newer one began (an operator's action refreshes beside
  // the timer) draws nothing, so an older view never replaces a newer one.
  let issued = 0;
  ctx.ticket = () => {
    const mine = ++issued;
    return () => mine === issued && !ctx.left;
  };
  // every runs fn each ms while the page is shown and the tab visible, one
  // run at a time: a tick while the last run still waits on the API is
  // skipped, so a slow answer is never drawn over a newer one. A failing
  // refresh keeps the last good view.
  ctx.every = (ms, fn) => {
    let running = false;
    const tick = async () => {
      if (running || ctx.left || document.hidden) return;
      running = true;
      try {
        await fn();
      } catch (e) {
        ctx.onRefreshError?.(e);
      } finally {
        running = false;
      }
    };
    ctx.timers.push(setInterval(tick, ms));
  };
  return ctx;
}

function leave() {
  if (!current) return;
  current.left = true;
  current.timers.forEach(clearInterval);
  current = null;
  dropCharts();
}

// stop leaves the page shown (signing out).
export function stop() {
  leave();
}

function markNav(path) {
  for (const a of document.querySelectorAll('nav a')) {
    const target = a.getAttribute('href').slice(1);
    const here = target === '/' ? path === '/' : path === target || path.startsWith(`${target}/`);
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// navigate shows another page.
export function navigate(hash) {
  if (window.location.hash === hash) go();
  else window.location.hash = hash;
}
