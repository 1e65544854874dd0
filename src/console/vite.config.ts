import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

/**
 * The console is built into dist/console and served by `firebreak serve` itself, under a CSP
 * that allows nothing inline and nothing from elsewhere: one script file, one stylesheet.
 */
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  plugins: [preact({ devToolsEnabled: false, prefreshEnabled: false })],
  build: {
    outDir: fileURLToPath(new URL('../../dist/console', import.meta.url)),
    emptyOutDir: true,
    // The polyfill would be an inline script the CSP refuses; every browser we support has modulepreload.
    modulePreload: { polyfill: false },
    // No data: URLs for fonts or images: every asset is a file from this origin.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
  },
});
