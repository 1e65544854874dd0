import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Express } from 'express';
import { packageRoot } from '../package-root.js';

/**
 * The web console: static files built by vite into `dist/console`, served by the API server at
 * `/` (everything from this origin: nothing is fetched from the internet at run time). Paths that
 * are not files and not API routes get index.html, so the console's own routes reload.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Where `npm run build` puts the console (the same folder whether Firebreak runs from src/ or dist/). */
export function builtConsoleDir(): string {
  return join(packageRoot, 'dist', 'console');
}

export function mountConsole(x: Express, dir: string): boolean {
  const index = join(dir, 'index.html');
  if (!existsSync(index)) return false;
  x.use((req, res, next) => {
    if (req.path.startsWith('/api/') || req.path === '/metrics' || req.path === '/healthz' || req.path === '/readyz') return next();
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    next();
  });
  x.use(
    express.static(dir, {
      index: 'index.html',
      maxAge: '1h',
      setHeaders: (res, path) => path.endsWith('index.html') && res.setHeader('Cache-Control', 'no-store'),
    }),
  );
  x.get(/^\/(?!api\/|metrics$|healthz$|readyz$).*/, (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.sendFile(index);
  });
  return true;
}
