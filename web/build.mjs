// Builds the page into dist/: the SDK and src/main.js bundled into one
// script, next to the static files of public/. Upload dist/ to any static
// host, which sends `Content-Security-Policy: frame-ancestors 'none'`.
//
//   node build.mjs [--base-url <url> --project-id <id>]
//   (npm --prefix web run build -- --base-url https://… --project-id P2…)
//
// The service is fixed here, never read from the page's address: the base URL
// and project id go into dist/config.js, and the base URL's origin into
// dist/index.html's Content-Security-Policy as its only connect-src. Without
// them the page says it is not configured and may connect nowhere
// (connect-src 'none'); web/serve.py configures such a build as it serves it.
import { build } from 'esbuild';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PLACEHOLDER = "connect-src 'none'";

function fail(message) {
  console.error(`web: ${message}`);
  process.exit(2);
}

function options(argv) {
  const found = {};
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    if (flag !== '--base-url' && flag !== '--project-id') fail(`unknown argument ${argv[i]}`);
    const value = inline ?? argv[(i += 1)];
    if (value === undefined) fail(`${flag} needs a value`);
    found[flag.slice(2)] = value.trim();
  }
  return found;
}

/** The origin of an http(s) base URL, for connect-src: exactly scheme://host[:port]. */
function apiOrigin(baseUrl) {
  let url;
  try {
    url = new URL(baseUrl);
  } catch {
    fail(`--base-url ${JSON.stringify(baseUrl)} is not a URL`);
  }
  const origin = url.origin;
  if (!/^https?:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d+)?$/.test(origin) || url.username || url.password ||
      url.search || url.hash) {
    fail(`--base-url ${JSON.stringify(baseUrl)}: an http(s) URL without user, query or fragment`);
  }
  return origin;
}

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
const given = options(process.argv.slice(2));
const baseUrl = (given['base-url'] || '').replace(/\/+$/, '');
const projectId = given['project-id'] || '';
if (Boolean(baseUrl) !== Boolean(projectId)) fail('give both --base-url and --project-id, or neither');
if (projectId && !/^[A-Za-z0-9]+$/.test(projectId)) fail('--project-id: letters and digits only');
const origin = baseUrl ? apiOrigin(baseUrl) : '';

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(join(here, 'public'), out, { recursive: true });
if (baseUrl) {
  const page = join(out, 'index.html');
  const html = readFileSync(page, 'utf8');
  if (html.split(PLACEHOLDER).length !== 2) fail(`public/index.html must hold "${PLACEHOLDER}" exactly once`);
  writeFileSync(page, html.replace(PLACEHOLDER, `connect-src ${origin}`));
  writeFileSync(join(out, 'config.js'), `window.TOTP_CONFIG = ${JSON.stringify({ baseUrl, projectId })};\n`);
}
await build({
  entryPoints: [join(here, 'src', 'main.js')],
  outfile: join(out, 'app.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  platform: 'browser',
  legalComments: 'eof',
  logLevel: 'warning',
});
console.log(`web: built ${out}${baseUrl ? ` for ${baseUrl} (connect-src ${origin})` : ' (not configured)'}`);
