/**
 * The built page (`dist/web/static`, made by `npm run build`), read into memory once. Only the
 * files found there are ever served: a request path is a key in a map, never a file system path.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build` puts the page: the same path from `src/web` (tsx) and `dist/web` (built). */
export const DEFAULT_STATIC_DIR = fileURLToPath(new URL('../../dist/web/static/', import.meta.url));

export interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
  /** Hashed asset names never change content: cache them; `index.html` never. */
  readonly immutable: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Largest file loaded (the bundle is far smaller). */
const MAX_FILE_BYTES = 8 * 1024 * 1024;

/** Reads every file under `dir`; throws a clear error when the page has not been built. */
export function loadStaticFiles(dir: string = DEFAULT_STATIC_DIR): Map<string, StaticFile> {
  if (!existsSync(join(dir, 'index.html'))) {
    throw new Error(`the web page is not built (no ${join(dir, 'index.html')}): run \`npm run build\` (npm install runs it)`);
  }
  const files = new Map<string, StaticFile>();
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && statSync(path).size <= MAX_FILE_BYTES) {
        const url = `/${relative(dir, path).split(sep).join('/')}`;
        const type = TYPES[extname(entry.name).toLowerCase()] ?? 'application/octet-stream';
        files.set(url, { body: readFileSync(path), type, immutable: url.startsWith('/assets/') });
      }
    }
  };
  walk(dir);
  const index = files.get('/index.html');
  if (index !== undefined) files.set('/', index);
  return files;
}
