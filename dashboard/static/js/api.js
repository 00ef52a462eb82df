// The dashboard's one way to the server: the public /api/v1, with the
// session cookie the browser holds (the page never sees the key).

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

// request calls the API and answers its JSON, or throws an ApiError with
// the API's code and message. Changes carry X-Herald-CSRF, without which
// the server refuses a cookie-authenticated change.
export async function request(method, path, {query, body} = {}) {
  const url = new URL(`/api/v1${path}`, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  }
  const headers = {Accept: 'application/json'};
  if (method !== 'GET') headers['X-Herald-CSRF'] = '1';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(url, {method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    throw new ApiError(0, 'network', `Herald did not answer (${e.message}).`, {});
  }
  if (resp.status === 204) return null;
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const e = (data && data.error) || {};
    const err = new ApiError(resp.status, e.code || `http_${resp.status}`, e.message || resp.statusText, e.details || {});
    if (resp.status === 401 && path !== '/session') {
      window.dispatchEvent(new CustomEvent('herald:unauthorized', {detail: err}));
    }
    throw err;
  }
  return data;
}

export const api = {
  get: (path, query) => request('GET', path, {query}),
  post: (path, body, query) => request('POST', path, {body, query}),
  put: (path, body) => request('PUT', path, {body}),
  del: (path) => request('DELETE', path),
};

