// The camera page's PTZ panel in headless Chromium (playwright-core): an admin holds "Zoom in" and the live
// picture changes, pans with the keyboard, saves a preset and goes home with the presets list; every control
// is labelled; no console error or CSP violation; a viewer gets no panel. Run by
// crates/vigil/tests/onvif_e2e/ptz_browser.rs against a real `vigil run` and a real ipycam camera.
//
// Env: VIGIL_URL, VIGIL_CAMERA, VIGIL_ADMIN, VIGIL_VIEWER, VIGIL_PASSWORD, VIGIL_SCREENSHOTS,
// VIGIL_NODE_MODULES (where playwright-core is installed), VIGIL_CHROMIUM (browser executable).

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const url = env('VIGIL_URL');
const camera = env('VIGIL_CAMERA');
const shots = env('VIGIL_SCREENSHOTS');
const require = createRequire(join(env('VIGIL_NODE_MODULES'), 'noop.js'));
const { chromium } = require('playwright-core');
mkdirSync(shots, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log('[ptz-test]', ...a);
let n = 0;
async function shot(page, name) {
  n += 1;
  const file = join(shots, `${String(n).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  log('screenshot', file);
}

/** The live picture now, as 160x90 grey values. */
async function look(page) {
  return page.$eval('video.live', (v) => {
    const c = document.createElement('canvas');
    c.width = 160; c.height = 90;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 160, 90);
    const d = g.getImageData(0, 0, 160, 90).data;
    const out = [];
    for (let i = 0; i < d.length; i += 4) out.push((d[i] + d[i + 1] + d[i + 2]) / 3);
    return out;
  });
}
const mad = (a, b) => a.reduce((s, x, i) => s + Math.abs(x - b[i]), 0) / a.length;

/** The panel's status line as numbers: { pan, tilt, zoom }. */
async function status(page) {
  const text = await page.textContent('section.ptz .ptz-status');
  const num = (k) => Number((new RegExp(`${k} (-?[0-9.]+)`).exec(text) || [])[1]);
  return { pan: num('pan'), tilt: num('tilt'), zoom: num('zoom'), text };
}

async function until(what, f, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function login(context, user) {
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(url);
  await page.waitForSelector('input[name=username]');
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', env('VIGIL_PASSWORD'));
  await page.click('button[type=submit]');
  await page.waitForSelector(`.tile[data-camera="${camera}"]`);
  return page;
}

async function playing(page) {
  await page.goto(`${url}/#/camera/${camera}`);
  await page.waitForSelector('video.live');
  await until('live video', () => page.$eval('video.live', (v) => v.currentTime > 0.5 && v.videoWidth > 0), 30000);
}

const browser = await chromium.launch({
  executablePath: process.env.VIGIL_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--disable-gpu'],
});
let failed = false;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 900 } });
  const errors = [];
  await context.addInitScript(() => document.addEventListener('securitypolicyviolation',
    (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI || ''}`)));
  context.on('page', (p) => {
    p.on('pageerror', (e) => errors.push(e.message));
    // Console errors are logged; CSP violations fail the test (a 401 before logging in is expected).
    p.on('console', (m) => {
      if (m.type() !== 'error') return;
      log('console error:', m.text());
      if (/Content Security Policy|CSP violation/i.test(m.text())) errors.push(m.text());
    });
  });
  const page = await login(context, env('VIGIL_ADMIN'));
  await playing(page);
  await page.waitForSelector('section.ptz');
  // Every control of the panel has a name for assistive technology.
  const unnamed = await page.$$eval('section.ptz button, section.ptz select, section.ptz input', (els) =>
    els.filter((e) => !(e.getAttribute('aria-label') || (e.closest('label') && e.closest('label').textContent.trim()) || e.textContent.trim().length > 1))
      .map((e) => e.outerHTML));
  if (unnamed.length) throw new Error(`unlabelled PTZ controls: ${unnamed.join(' ')}`);
  await shot(page, 'ptz-panel');
  const before = await status(page);
  log('at start:', before.text);
  // How much the scene itself changes between looks (people walk in the footage): the least of three. A
  // zoom changes the whole picture (about 45); a person walking in changes up to about 16.
  let wide = await look(page);
  let noise = Infinity;
  for (let i = 0; i < 3; i++) {
    await sleep(500);
    const again = await look(page);
    noise = Math.min(noise, mad(wide, again));
    wide = again;
  }

  // Hold "Zoom in" for a moment (pointer down, wait, up): the camera zooms, then stops.
  const zoomIn = await page.$('section.ptz button[aria-label="Zoom in"]');
  const box = await zoomIn.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await sleep(700);
  await page.mouse.up();
  const zoomed = await until('the zoom in the status', async () => { const s = await status(page); return s.zoom >= 0.3 && s; });
  log('after holding zoom in:', zoomed.text);
  await sleep(2000);
  const change = mad(wide, await look(page));
  log(`live picture: noise ${noise.toFixed(1)}, change after the zoom ${change.toFixed(1)} (mean grey difference)`);
  if (!(change > 20 && change > 2 * noise)) throw new Error(`the zoom did not change the live picture: ${change} vs ${noise}`);
  const stillZoom = (await status(page)).zoom;
  if (Math.abs(stillZoom - zoomed.zoom) > 0.01) throw new Error(`the camera kept zooming after the release: ${zoomed.zoom} -> ${stillZoom}`);
  await shot(page, 'ptz-zoomed');

  // The keyboard: ArrowRight held on the panel pans right.
  await page.focus('section.ptz');
  await page.keyboard.down('ArrowRight');
  await sleep(500);
  await page.keyboard.up('ArrowRight');
  const panned = await until('the pan in the status', async () => { const s = await status(page); return s.pan > 0.1 && s; });
  log('after ArrowRight:', panned.text);

  // Save the spot as a preset; it is listed and chosen.
  await page.fill('section.ptz input[name=preset_name]', 'browser spot');
  await page.click('section.ptz button[aria-label="Save the current position as a preset"]');
  await page.waitForSelector('section.ptz select option:has-text("browser spot")', { state: 'attached' });
  // Home through the presets list.
  await page.selectOption('section.ptz select[name=preset]', 'home');
  await page.click('section.ptz button[aria-label="Go to the chosen preset"]');
  const home = await until('home in the status', async () => { const s = await status(page); return s.zoom === 0 && s.pan === 0 && s; });
  log('after going to Home:', home.text);
  await shot(page, 'ptz-home');

  // A viewer sees the camera but no PTZ panel.
  const viewerContext = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 900 } });
  const viewer = await login(viewerContext, env('VIGIL_VIEWER'));
  await playing(viewer);
  await sleep(1500);
  if (await viewer.$('section.ptz')) throw new Error('a viewer was offered the PTZ panel');
  await shot(viewer, 'viewer-no-ptz');
  await viewerContext.close();

  // Discovery on the Settings page finds an ONVIF camera (every ipycam on this host answers on UDP
  // 3702: whichever answers), "Use" fills in its streams and address, and adding it saves it into
  // vigil.toml, probed first, and restarts the cameras with it.
  await page.goto(`${url}/#/settings`);
  await page.waitForSelector('input[name=discover_address]');
  await page.fill('input[name=discover_address]', '127.0.0.1');
  await page.click('button:has-text("Find ONVIF cameras")');
  await page.waitForSelector('ul.found li button:has-text("Use")', { timeout: 20000 });
  const found = await page.textContent('ul.found li');
  log('discovered:', found);
  await page.click('ul.found li button:has-text("Use")');
  const main = await page.inputValue('input[name=cam_main]');
  const onvif = await page.inputValue('input[name=cam_onvif]');
  if (!main.startsWith('rtsp://') || !onvif.startsWith('http://')) throw new Error(`filled in: ${main} ${onvif}`);
  await page.fill('input[name=cam_name]', 'porch');
  await page.click('button:has-text("Add camera")');
  await page.waitForSelector('p[role=status]:has-text("Saved to vigil.toml")', { timeout: 30000 });
  log('probe:', await page.textContent('form.grid-form p.small'));
  const added = await until('the discovered camera listed after the restart', async () => {
    try {
      const cams = await page.evaluate(async () => (await (await fetch('/api/cameras')).json()).map((c) => c.name));
      return cams.includes('porch') && cams;
    } catch { return false; }
  }, 30000);
  log('cameras after adding:', added.join(', '));
  await shot(page, 'onvif-added');

  if (errors.length) throw new Error(`page errors or CSP violations: ${errors.join(' | ')}`);
  log('OK');
} catch (e) {
  failed = true;
  console.error('[ptz-test] FAILED:', e.stack || e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
