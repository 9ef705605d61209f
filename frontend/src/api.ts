// The API client. The base is ./api relative to the page (the pool and
// nginx serve the app at / and the API at /api), overridable with ?api=URL
// in the page's query string or window.RXPOOL_API (set before the app loads).

declare global {
  interface Window {
    RXPOOL_API?: string;
  }
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

export function apiBase(): string {
  const fromQuery = new URLSearchParams(location.search).get('api');
  const base = fromQuery || window.RXPOOL_API || './api';
  return base.replace(/\/+$/, '');
}

export function apiUrl(path: string, params: Record<string, string | number | undefined> = {}): string {
  const url = new URL(`${apiBase()}/${path.replace(/^\/+/, '')}`, location.href);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  }
  return url.toString();
}

const TIMEOUT_MS = 15_000;

export async function getJSON<T>(path: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(apiUrl(path, params), {
      headers: { Accept: 'application/json' },
      cache: 'no-store',
      signal: ctrl.signal,
    });
  } catch {
    throw new ApiError(0, ctrl.signal.aborted ? 'the pool API did not answer in time' : 'cannot reach the pool API');
  } finally {
    clearTimeout(timer);
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const msg =
      body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string'
        ? (body as { error: string }).error
        : `HTTP ${res.status} ${res.statusText}`.trim();
    throw new ApiError(res.status, msg);
  }
  if (body === null || typeof body !== 'object') throw new ApiError(res.status, 'the pool API sent no JSON');
  return body as T;
}
