import { en } from './i18n-en.js';
import { sv } from './i18n-sv.js';

/**
 * English and Swedish. The choice is kept in localStorage and set on <html lang> so a screen
 * reader speaks the right language; the app re-renders from its root when it changes.
 */
export type Lang = 'en' | 'sv';
export type Key = keyof typeof en;

const DICTS: Record<Lang, Record<Key, string>> = { en, sv };
const STORE_KEY = 'firebreak.lang';
const listeners = new Set<(l: Lang) => void>();

function initial(): Lang {
  try {
    const saved = localStorage.getItem(STORE_KEY);
    if (saved === 'en' || saved === 'sv') return saved;
  } catch {
    // Storage can be off (private mode): fall back to the browser's language.
  }
  return navigator.language.toLowerCase().startsWith('sv') ? 'sv' : 'en';
}

let current: Lang = initial();
document.documentElement.lang = current;

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  current = l;
  document.documentElement.lang = l;
  try {
    localStorage.setItem(STORE_KEY, l);
  } catch {
    // Not kept across reloads then; the switch still works.
  }
  for (const f of listeners) f(l);
}

export function onLang(f: (l: Lang) => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

/** The text for `key` with `{name}` placeholders filled in. */
export function t(key: Key, vars: Record<string, string | number> = {}): string {
  const s = DICTS[current][key] ?? en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

/** A run state in words (the state name itself stays visible next to it for the journal's sake). */
export function stateWords(state: string): string {
  const k = `state.${state}` as Key;
  return k in en ? t(k) : state;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return `${m} min ${String(s).padStart(2, '0')} s`;
}

export function formatTime(ts: string | number): string {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleString(current === 'sv' ? 'sv-SE' : 'en-GB');
}
