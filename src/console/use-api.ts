import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api } from './api.js';

/** A GET the page shows: data, the error in words, and reload (optionally every `pollMs`). */
export function useApi<T>(path: string | null, pollMs?: number): { data?: T; error?: ApiError; loading: boolean; reload(): void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    if (path === null) return;
    let live = true;
    setLoading(true);
    api<T>('GET', path)
      .then((d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
      })
      .catch((e: unknown) => live && setError(e instanceof ApiError ? e : new ApiError(0, 'CLIENT', String(e))))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [path, tick]);
  useEffect(() => {
    if (!pollMs) return;
    const id = setInterval(reload, pollMs);
    return () => clearInterval(id);
  }, [pollMs, reload]);
  return { data, error, loading, reload };
}

/** Whether the signed-in user's scopes allow `scope` (admin allows everything; run:* any run). */
export function allows(scopes: readonly string[], scope: string): boolean {
  if (scopes.includes('admin') || scopes.includes(scope)) return true;
  return scope.startsWith('run:') && scopes.includes('run:*');
}
