#!/usr/bin/env node
// The installed entry point: runs the compiled CLI (npm install builds it; `npm run build` rebuilds).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('qim: the build is missing; run `npm install` (or `npm run build`) in the qim checkout first\n');
  process.exit(1);
}
await import(main.href);
