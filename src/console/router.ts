import { useEffect, useState } from 'preact/hooks';

/**
 * Hash routes (`#/run/r-...`): a reload or a bookmark lands on the same page, and the server
 * needs to know nothing about them.
 */
export interface Route {
  page: 'emergency' | 'go' | 'run' | 'approvals' | 'history' | 'journal' | 'devices' | 'holds' | 'drills';
  arg?: string;
}

const PAGES: readonly Route['page'][] = ['emergency', 'go', 'run', 'approvals', 'history', 'journal', 'devices', 'holds', 'drills'];

export function parseRoute(hash: string): Route {
  const [page, ...rest] = hash.replace(/^#\/?/, '').split('/');
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
  if (page && (PAGES as string[]).includes(page)) return { page: page as Route['page'], arg };
  return { page: 'emergency' };
}

export function href(page: Route['page'], arg?: string): string {
  return arg === undefined ? `#/${page}` : `#/${page}/${encodeURIComponent(arg)}`;
}

export function navigate(page: Route['page'], arg?: string): void {
  location.hash = href(page, arg);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const f = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', f);
    return () => window.removeEventListener('hashchange', f);
  }, []);
  return route;
}
