// The HTTP API client: JSON in and out, the session cookie sent automatically, the CSRF token added to
// every write, errors turned into ApiError with the server's code and message.

let csrf = null;
let onUnauthorized = () => {};

/** An error answer from the API: HTTP status, the server's error code and human message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/** Remembers the CSRF token from login or /api/me. */
export function setCsrf(token) { csrf = token || null; }

/** Called when the session has ended (any 401 outside login). */
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

/** Calls the API; resolves to the parsed JSON (or null for an empty answer). */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', `The server cannot be reached (${e.message}).`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const code = data && data.error;
    if (res.status === 401 && code !== 'mfa_required' && !path.startsWith('/api/login')) onUnauthorized();
    const err = new ApiError(res.status, code, (data && data.message) || res.statusText);
    // Located problems of a configuration that was not saved.
    if (data && Array.isArray(data.problems)) err.problems = data.problems;
    throw err;
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);

/** Query string from an object, leaving out empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Path segment for a camera name. */
export const cam = (name) => encodeURIComponent(name);
