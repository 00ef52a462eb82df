// The dashboard starts here: theme, session, pages.
import {announce} from './dom.js';
import {go, route, stop} from './router.js';
import {load, session, signIn, signOut} from './session.js';
import {showSignIn} from './pages/signin.js';
import {overview} from './pages/overview.js';
import {webhooks} from './pages/webhooks.js';
import {webhookPage} from './pages/webhook.js';
import {newWebhook} from './pages/webhook-new.js';
import {deliveries} from './pages/deliveries.js';
import {deliveryPage} from './pages/delivery.js';
import {events} from './pages/events.js';
import {eventPage} from './pages/event.js';
import {integrations} from './pages/integrations.js';
import {eventTypes, eventTypePage} from './pages/eventtypes.js';

// A policy violation is a bug of the page (the policy allows this origin
// only): say it where developers and the browser test look.
document.addEventListener('securitypolicyviolation', (e) => {
  console.error(`Content Security Policy violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline code'}`);
});

route(/^\/$/, overview);
route(/^\/webhooks$/, webhooks);
route(/^\/webhooks\/new$/, newWebhook);
route(/^\/webhooks\/(\d+)$/, webhookPage);
route(/^\/deliveries$/, deliveries);
route(/^\/deliveries\/(\d+)\/(\d+)$/, deliveryPage);
route(/^\/events$/, events);
route(/^\/events\/([^/]+)$/, eventPage);
route(/^\/integrations$/, integrations);
route(/^\/event-types$/, eventTypes);
route(/^\/event-types\/([^/]+)$/, eventTypePage);

// The theme: the system's, until the toggle chooses one (kept in this
// browser).
function applyTheme(theme) {
  const dark = theme ? theme === 'dark' : window.matchMedia('(prefers-color-scheme: dark)').matches;
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  const button = document.getElementById('theme');
  // A toggle button: its name stays, aria-pressed says the state.
  button.setAttribute('aria-pressed', String(dark));
  window.dispatchEvent(new Event('herald:theme'));
}

function setupTheme() {
  applyTheme(localStorage.getItem('herald-theme'));
  document.getElementById('theme').addEventListener('click', () => {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem('herald-theme', next);
    applyTheme(next);
  });
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => applyTheme(localStorage.getItem('herald-theme')));
}

function showSession() {
  const who = session();
  const box = document.getElementById('session');
  box.hidden = !who;
  document.getElementById('nav').hidden = !who;
  if (who) document.getElementById('who').textContent = `${who.name} (${who.scopes.join(', ')})`;
}

// signedIn shows the page the address names. On a page just loaded the
// focus stays at the start of the document, where the skip link is the
// first stop; after the sign-in form, whose field held it, it moves to the
// page's heading.
async function signedIn({focus = true} = {}) {
  showSession();
  await go({focus});
}

function signedOut(message) {
  stop();
  showSession();
  showSignIn(document.getElementById('main'), message, async (body) => {
    await signIn(body);
    announce(`Signed in as ${session().name}.`);
    await signedIn();
  });
}

async function start() {
  setupTheme();
  document.getElementById('sign-out').addEventListener('click', async () => {
    await signOut().catch(() => {});
    signedOut('You signed out.');
  });
  window.addEventListener('herald:unauthorized', (e) => {
    if (session()) signedOut(`Your session ended: ${e.detail.message}`);
  });
  window.addEventListener('hashchange', () => { if (session()) go(); });
  // herald dev's link: #sign-in=<code>. The fragment never reaches a
  // server; it leaves the address bar and the history at once.
  const code = window.location.hash.match(/^#sign-in=([A-Za-z0-9_-]+)$/);
  if (code) {
    history.replaceState(null, '', `${window.location.pathname}#/`);
    try {
      await signIn({sign_in_code: code[1]});
      return signedIn({focus: false});
    } catch (e) {
      return signedOut(e.message);
    }
  }
  if (await load()) return signedIn({focus: false});
  signedOut('');
}

start().catch((e) => {
  document.getElementById('main').textContent = `The dashboard cannot start: ${e.message}`;
});
