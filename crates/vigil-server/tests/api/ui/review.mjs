// The Review page in headless Chromium (playwright-core): logs in, opens #/review, checks the cards and the
// unreviewed badge, moves with j, marks an item reviewed with r and the next a false alarm with f, checks
// the badge went down and the keys dialog opens with ?, and prints the ids it acted on for the Rust side
// (crates/vigil-server/tests/api/review_ui.rs) to check against the server. Screenshot in $VIGIL_SCREENSHOTS.
//
// Env: VIGIL_URL, VIGIL_USER, VIGIL_PASSWORD, VIGIL_ITEMS (cards expected), VIGIL_BADGE (badge expected),
// VIGIL_SCREENSHOTS, VIGIL_NODE_MODULES, VIGIL_CHROMIUM.

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const url = env('VIGIL_URL');
const shots = env('VIGIL_SCREENSHOTS');
const require = createRequire(join(env('VIGIL_NODE_MODULES'), 'noop.js'));
const { chromium } = require('playwright-core');
mkdirSync(shots, { recursive: true });
const log = (...a) => console.log('[review-ui]', ...a);
const check = (ok, what) => { if (!ok) throw new Error(`check failed: ${what}`); };

const browser = await chromium.launch({ executablePath: env('VIGIL_CHROMIUM'), args: ['--no-sandbox'] });
let page;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const login = await context.request.post(`${url}/api/login`, { data: { username: env('VIGIL_USER'), password: env('VIGIL_PASSWORD') } });
  check(login.ok(), `login: ${login.status()} ${await login.text()}`);
  page = await context.newPage();
  page.on('pageerror', (e) => log('page error:', e.message));
  await page.goto(`${url}/#/review`);
  const items = Number(env('VIGIL_ITEMS'));
  await page.waitForFunction((n) => document.querySelectorAll('.review-card').length === n, items, { timeout: 15000 });
  const badge = () => page.$eval('#nav a[data-path="/review"]', (a) => (a.querySelector('.count') || {}).textContent || '0');
  await page.waitForFunction((n) => ((document.querySelector('#nav a[data-path="/review"] .count') || {}).textContent || '0') === n,
    env('VIGIL_BADGE'), { timeout: 10000 });
  // Every control has a name a screen reader can say (as ui_browser/flow.mjs checks on the other pages).
  const unnamed = await page.$$eval('input:not([type=hidden]), select, textarea, button', (els) => els
    .filter((el) => el.offsetParent !== null)
    .filter((el) => !(el.getAttribute('aria-label') || (el.labels && el.labels.length) || el.title
      || (el.textContent || '').trim() || el.placeholder || el.closest('label')))
    .map((el) => el.outerHTML.slice(0, 120)));
  check(!unnamed.length, `controls without a name: ${unnamed.join(' | ')}`);
  const before = Number(await badge());
  log('cards', items, 'badge', before);
  const selectedId = () => page.$eval('.review-card[aria-selected="true"]', (c) => c.dataset.id);
  check((await selectedId()) === (await page.$eval('.review-card', (c) => c.dataset.id)), 'the first card starts selected');

  // j moves down, k back up, j again.
  await page.keyboard.press('j');
  const second = await page.$eval('#review-1', (c) => c.dataset.id);
  check((await selectedId()) === second, 'j selects the second card');
  await page.keyboard.press('k');
  await page.keyboard.press('j');
  check((await selectedId()) === second, 'k then j comes back');
  // The selected card shows a visible outline.
  const outline = await page.$eval('.review-card.selected', (c) => getComputedStyle(c).outlineStyle);
  check(outline !== 'none', `selected card outline: ${outline}`);

  // r: reviewed on the server, selection moves on.
  const marked = page.waitForResponse((r) => r.url().endsWith('/api/review/reviewed') && r.request().method() === 'POST');
  await page.keyboard.press('r');
  check((await marked).status() === 200, 'mark reviewed answered 200');
  await page.waitForFunction(() => document.querySelector('#review-1').classList.contains('reviewed'));
  const third = await page.$eval('#review-2', (c) => c.dataset.id);
  await page.waitForFunction((id) => (document.querySelector('.review-card[aria-selected="true"]') || {}).dataset?.id === id, third);

  // f: a false alarm (and reviewed).
  const judged = page.waitForResponse((r) => r.url().includes('/feedback') && r.request().method() === 'POST');
  await page.keyboard.press('f');
  check((await judged).status() === 200, 'feedback answered 200');
  await page.waitForFunction(() => document.querySelector('#review-2').classList.contains('reviewed'));
  await page.waitForFunction((n) => ((document.querySelector('#nav a[data-path="/review"] .count') || {}).textContent || '0') === String(n),
    before - 2, { timeout: 10000 });
  log('badge after', await badge());
  await page.screenshot({ path: join(shots, 'review-keyboard.png'), fullPage: true });

  // ? shows the keys; Escape closes them.
  await page.keyboard.press('?');
  await page.waitForSelector('dialog.review-keys[open]');
  await page.screenshot({ path: join(shots, 'review-keys.png') });
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.querySelector('dialog.review-keys').open);
  const after = Number(await badge());
  // A new event arrives over the live feed (the Rust side raises it on this line): the badge counts it.
  console.log('[review-ui] WAITING_LIVE');
  await page.waitForFunction((n) => ((document.querySelector('#nav a[data-path="/review"] .count') || {}).textContent || '0') === String(n),
    after + 1, { timeout: 15000 });
  log('badge after a live event', await badge());
  console.log(`RESULT ${JSON.stringify({ reviewed: second, false_alarm: third, badge_before: before, badge_after: after, badge_live: Number(await badge()) })}`);
  log('OK');
} catch (e) {
  if (page) await page.screenshot({ path: join(shots, 'review-failure.png') }).catch(() => {});
  console.log('[review-ui] FAILED', e.stack || e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
