// Who is signed in. The key itself stays in the HttpOnly cookie: the page
// knows only its name and scopes, from GET /api/v1/session.
import {api, request} from './api.js';

let current = null;

export function session() {
  return current;
}

// load asks the server who the cookie signs in; null when nobody.
export async function load() {
  try {
    current = await request('GET', '/session');
  } catch (e) {
    if (e.status !== 401) throw e;
    current = null;
  }
  return current;
}

// signIn trades a key (or herald dev's one-time code) for the cookie, then
// checks the browser kept it: a Secure cookie set over plain http is
// dropped, and the page would otherwise look signed in and fail at once.
export async function signIn(body) {
  await api.post('/session', body);
  const who = await load();
  if (!who) {
    throw new Error('Signed in, but this browser did not keep the session cookie: it is marked Secure and this page is ' +
      'not served over https. Serve Herald over https (or, on a trusted network only, start herald api with ' +
      '--insecure-session-cookie).');
  }
  return who;
}

export async function signOut() {
  await api.del('/session');
  current = null;
}

// can says whether the signed-in key has a scope (write includes read).
export function can(scope) {
  const scopes = (current && current.scopes) || [];
  return scopes.includes('admin') || scopes.includes(scope) || (scope === 'read' && scopes.includes('write'));
}

// workflowURL links a workflow in the Temporal Web UI, or '' without one
// configured. Without a run id the UI opens the latest run.
export function workflowURL(workflowID, runID) {
  if (!current || !current.temporal_ui_url || !workflowID) return '';
  const base = current.temporal_ui_url.replace(/\/+$/, '');
  const ns = encodeURIComponent(current.temporal_namespace || 'default');
  const wf = encodeURIComponent(workflowID);
  return runID ? `${base}/namespaces/${ns}/workflows/${wf}/${encodeURIComponent(runID)}/history`
    : `${base}/namespaces/${ns}/workflows/${wf}`;
}
