// The hub's UI in headless Chromium, driven by playwright-core: log in, see the site online with its
// camera, see events appear in the list, narrow them with the search box and the site filter, open the
// site's page. Run by crates/vigil/tests/multisite/hub_ui.rs against a real `vigil hub` and `vigil run`.
//
// Env: HUB_URL, HUB_USER, HUB_PASSWORD, HUB_SITE, HUB_CAMERA, HUB_SCREENSHOTS, VIGIL_NODE_MODULES,
// VIGIL_CHROMIUM.

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const url = env('HUB_URL');
const site = env('HUB_SITE');
const camera = env('HUB_CAMERA');
const shots = env('HUB_SCREENSHOTS');
const require = createRequire(join(env('VIGIL_NODE_MODULES'), 'noop.js'));
const { chromium } = require('playwright-core');
mkdirSync(shots, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log('[hub-ui]', ...a);
let n = 0;
async function shot(page, name) {
  n += 1;
  await page.screenshot({ path: join(shots, `${String(n).padStart(2, '0')}-${name}.png`), fullPage: true });
}

/** Polls `f` (run in the page) from Node until it returns something truthy. */
async function until(page, what, f, arg, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await page.evaluate(f, arg);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(250);
  }
}

const rows = (page) => page.evaluate(() => [...document.querySelectorAll('#events tr.event-row')].map((r) => ({
  id: r.dataset.id, site: r.dataset.site, text: r.textContent,
})));

const browser = await chromium.launch({
  executablePath: process.env.VIGIL_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu'],
});
let failed = false;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  // Login.
  await page.goto(url);
  await page.fill('#login-user', env('HUB_USER'));
  await page.fill('#login-password', 'not the password');
  await page.click('#login-submit');
  await until(page, 'a wrong password refused', () => document.querySelector('#login-error')?.textContent.includes('wrong'));
  await page.fill('#login-password', env('HUB_PASSWORD'));
  await page.click('#login-submit');
  await until(page, 'the sites page', () => document.querySelector('#sites .site-card'));
  log('logged in');

  // The site is online with its camera.
  const card = await until(page, `${site} online with ${camera}`, ([s, c]) => {
    const card = document.querySelector(`.site-card[data-site="${s}"]`);
    if (!card) return null;
    const state = card.querySelector('.site-state').textContent;
    const cams = card.querySelector('.cams').textContent;
    return state === 'online' && cams.includes(c) ? card.textContent : null;
  }, [site, camera]);
  log('site card:', card.replace(/\s+/g, ' ').slice(0, 200));
  await shot(page, 'sites');

  // Events appear in the list.
  await page.click('#nav a[data-page="events"]');
  await until(page, 'events in the list', () => document.querySelectorAll('#events tr.event-row').length > 0);
  const all = await rows(page);
  if (!all.every((r) => r.site === site)) throw new Error(`rows of other sites: ${JSON.stringify(all.map((r) => r.site))}`);
  log(`${all.length} events listed`);
  await shot(page, 'events');

  // Search narrows them: a word nobody used finds nothing, the camera's name finds its events.
  await page.fill('#event-search', 'zeppelin');
  await until(page, 'no events for zeppelin', () => document.querySelectorAll('#events tr.event-row').length === 0
    && document.querySelector('#events').textContent.includes('No events'));
  await shot(page, 'search-nothing');
  await page.fill('#event-search', camera);
  await until(page, `events for ${camera}`, () => document.querySelectorAll('#events tr.event-row').length > 0);
  const found = await rows(page);
  if (!found.every((r) => r.text.includes(camera))) throw new Error('a row without the camera');
  await page.fill('#event-search', '');
  await page.selectOption('#event-site', site);
  await until(page, `events of ${site}`, () => document.querySelectorAll('#events tr.event-row').length > 0);
  const bySite = await rows(page);
  if (!bySite.every((r) => r.site === site)) throw new Error('the site filter let others through');
  log(`search: 0 for zeppelin, ${found.length} for ${camera}, ${bySite.length} for site ${site}`);
  await shot(page, 'search');

  // The site's page, with its camera.
  await page.click('#nav a[data-page="sites"]');
  await page.click(`.site-card[data-site="${site}"]`);
  await until(page, 'the site page', ([s, c]) => document.querySelector('#site-page h1')?.textContent === s
    && document.querySelector(`#site-page .cam[data-camera="${c}"]`), [site, camera]);
  // The live picture is asked of the site through the hub every 2 s (a picture, or the site's answer).
  const live = await until(page, 'a live picture or the reason there is none', () => {
    const img = document.querySelector('#site-page img.live');
    const note = document.querySelector('#site-page .live-note')?.textContent || '';
    if (img && img.naturalWidth > 0) return `picture ${img.naturalWidth}x${img.naturalHeight}`;
    return note ? `note: ${note}` : null;
  }, undefined, 20000);
  log('live:', live);
  await shot(page, 'site');
  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  log('OK');
} catch (e) {
  failed = true;
  console.error('[hub-ui] FAILED', e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
