/**
 * Builds the web client's page (`web/`) into `dist/web/static`, which `qim web` serves. Preact's
 * JSX goes through Vite's own transformer (no Babel, no dev-only plugins); no source maps or
 * inline scripts, so the page runs under a `script-src 'self'` policy.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web/static', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
});
