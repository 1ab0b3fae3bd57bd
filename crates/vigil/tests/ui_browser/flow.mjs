// The web UI in headless Chromium, driven by playwright-core: first-run setup, login, MFA enrolment, login
// with a TOTP code (computed here from the enrolment secret, RFC 6238), live video in the camera grid,
// playback of a recorded range in the camera view, the other pages, logout. Screenshots of every step go
// to $VIGIL_SCREENSHOTS. Run by crates/vigil/tests/ui_browser.rs against a real `vigil run`.
//
// Env: VIGIL_URL (https://127.0.0.1:PORT), VIGIL_SETUP_TOKEN, VIGIL_CAMERA, VIGIL_SCREENSHOTS,
// VIGIL_NODE_MODULES (where playwright-core is installed), VIGIL_CHROMIUM (browser executable).

import { createRequire } from 'node:module';
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const url = env('VIGIL_URL');
const token = env('VIGIL_SETUP_TOKEN');
const camera = env('VIGIL_CAMERA');
const shots = env('VIGIL_SCREENSHOTS');
const require = createRequire(join(env('VIGIL_NODE_MODULES'), 'noop.js'));
const { chromium } = require('playwright-core');
mkdirSync(shots, { recursive: true });

const USER = 'chief';
const PASSWORD = 'correct horse battery staple 42';

// RFC 4648 base32 (no padding needed).
function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`bad base32 character ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP (RFC 4226 HOTP over the time step).
function totp(secret, { step, digits = 6, algorithm = 'sha1' }) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac(algorithm, base32(secret)).update(counter).digest();
  const off = mac[mac.length - 1] & 0xf;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 10 ** digits).padStart(digits, '0');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log('[ui-test]', ...a);

let n = 0;
async function shot(page, name) {
  n += 1;
  const file = join(shots, `${String(n).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  log('screenshot', file);
}

/** currentTime of the first element matching `selector`, sampled twice `ms` apart. */
async function advance(page, selector, ms) {
  const t = (sel) => page.$eval(sel, (v) => v.currentTime);
  const a = await t(selector);
  await sleep(ms);
  const b = await t(selector);
  return [a, b];
}

const browser = await chromium.launch({
  executablePath: process.env.VIGIL_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--disable-gpu'],
});
let failed = false;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Content-Security-Policy violations (the CSP allows no inline style or script): Chromium logs each
  // as a console error, and the page reports it as an event.
  const csp = [];
  await context.addInitScript(() => document.addEventListener('securitypolicyviolation',
    (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI || ''} ${e.sourceFile || ''}:${e.lineNumber || ''}`)));
  // When each event first shows in the list or on the timeline (checked against its MQTT message by
  // the Rust side of the test).
  await context.addInitScript(() => {
    window.__seen = {};
    new MutationObserver((records) => {
      const now = Date.now();
      for (const r of records) {
        for (const n of r.addedNodes) {
          if (!(n instanceof Element)) continue;
          for (const el of [n, ...n.querySelectorAll('.event[data-id], .ev[data-id]')]) {
            if (!el.dataset || !el.dataset.id) continue;
            const key = `${el.classList.contains('ev') ? 'timeline' : 'list'}:${el.dataset.id}`;
            if (el.matches('.event[data-id], .track .ev[data-id]') && !(key in window.__seen)) window.__seen[key] = now;
          }
        }
      }
    }).observe(document, { childList: true, subtree: true });
  });
  const pushed = {};
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    log('console error:', m.text());
    if (/Content Security Policy|CSP violation/i.test(m.text())) csp.push(m.text());
  });

  // 1. First-run setup.
  await page.goto(url);
  await page.waitForSelector('input[name=token]');
  await page.fill('input[name=token]', token);
  await page.fill('input[name=username]', USER);
  await page.fill('input[name=password]', PASSWORD);
  await page.fill('input[name=password2]', PASSWORD);
  await shot(page, 'setup');
  await page.click('button[type=submit]');

  // 2. Logged in: the camera grid.
  await page.waitForSelector(`.tile[data-camera="${camera}"] video`);
  log('setup done, logged in as', USER);

  // 3. MFA enrolment: the secret and parameters from the enrolment answer, the code computed here.
  await page.click('#nav a[href="#/account"]');
  const enrolAnswer = page.waitForResponse((r) => r.url().endsWith('/api/me/mfa/enroll'));
  await page.click('#mfa-start');
  const enrol = await (await enrolAnswer).json();
  const params = new URL(enrol.otpauth_url).searchParams;
  const opts = {
    digits: Number(params.get('digits') || 6),
    algorithm: (params.get('algorithm') || 'SHA1').toLowerCase(),
  };
  const period = Number(params.get('period') || 30);
  const secret = params.get('secret') || enrol.secret;
  await page.waitForSelector('img.qr');
  const shown = (await page.textContent('#mfa-secret')).trim();
  if (shown.replace(/\s/g, '') !== enrol.secret.replace(/\s/g, '')) throw new Error(`secret shown ${shown} != ${enrol.secret}`);
  await shot(page, 'mfa-qr');
  const enrolStep = Math.floor(Date.now() / 1000 / period);
  await page.fill('input[name=code]', totp(secret, { ...opts, step: enrolStep }));
  await page.click('form.inline button[type=submit]');
  await page.waitForSelector('#recovery-codes li');
  const recovery = await page.$$eval('#recovery-codes li code', (l) => l.map((c) => c.textContent.trim()));
  const codes = recovery.length;
  log('MFA enrolled,', codes, 'recovery codes');
  await shot(page, 'mfa-recovery-codes');

  // 4. Log out, log in again: password, then the TOTP code (a new time step, as codes are single-use).
  await page.click('#logout');
  await page.waitForSelector('input[name=username]');
  await page.fill('input[name=username]', USER);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('input[name=totp]', { state: 'visible' });
  await shot(page, 'login-totp');
  while (Math.floor(Date.now() / 1000 / period) === enrolStep) await sleep(250);
  await page.fill('input[name=totp]', totp(secret, { ...opts, step: Math.floor(Date.now() / 1000 / period) }));
  await page.click('button[type=submit]');
  await page.waitForSelector(`.tile[data-camera="${camera}"] video`);
  log('logged in with a TOTP code');

  // 4b. Replace the authenticator: the page asks for the password and a current code (a recovery code
  // here), then enrols a new secret like the first time.
  await page.click('#nav a[href="#/account"]');
  await page.click('#mfa-replace');
  await page.fill('#mfa-reauth input[name=password]', PASSWORD);
  await page.fill('#mfa-reauth input[name=code]', recovery[0]);
  const reenrolAnswer = page.waitForResponse((r) => r.url().endsWith('/api/me/mfa/enroll'));
  await page.click('#mfa-reauth button[type=submit]');
  const reenrol = await (await reenrolAnswer).json();
  if (!reenrol.secret || reenrol.secret === enrol.secret) throw new Error(`re-enrolment answered ${JSON.stringify(reenrol).slice(0, 200)}`);
  await page.waitForSelector('img.qr');
  const fresh = new URL(reenrol.otpauth_url).searchParams.get('secret') || reenrol.secret;
  await page.fill('input[name=code]', totp(fresh, { ...opts, step: Math.floor(Date.now() / 1000 / period) }));
  await page.click('form.inline button[type=submit]');
  await page.waitForSelector('#recovery-codes li');
  log('authenticator replaced (password and a recovery code asked first)');
  await shot(page, 'mfa-replaced');
  await page.click('button:has-text("I have saved them")');

  // 5. Live video plays in the grid.
  const liveSel = `.tile[data-camera="${camera}"] video`;
  await page.waitForFunction((sel) => document.querySelector(sel)?.currentTime > 0.5, liveSel, { timeout: 30000 });
  const [l0, l1] = await advance(page, liveSel, 3000);
  log(`live currentTime ${l0.toFixed(2)} -> ${l1.toFixed(2)}`);
  if (!(l1 - l0 > 1.5)) throw new Error(`live video does not advance: ${l0} -> ${l1}`);
  // Delay from a frame reaching vigil to its display: the tile's badge (segment transit + how far playback
  // is behind the newest buffered frame), sampled over 3 s.
  const delays = [];
  for (let i = 0; i < 10; i++) {
    await sleep(300);
    const text = await page.textContent(`.tile[data-camera="${camera}"] .latency`);
    if (/^\d+ ms$/.test(text)) delays.push(parseInt(text, 10));
  }
  delays.sort((a, b) => a - b);
  log(`live display delay in Chromium: median ${delays[delays.length >> 1]} ms, max ${delays[delays.length - 1]} ms (${delays.length} samples)`);
  if (!delays.length || delays[delays.length >> 1] > 1000) throw new Error(`live delay ${delays} ms (target < 1 s)`);
  await shot(page, 'live-grid');

  // 6. Camera view: the timeline shows recordings; play the last 30 s of them.
  await page.click(`.tile[data-camera="${camera}"] a.cover`);
  await page.waitForSelector('video.live');
  const deadline = Date.now() + 60000;
  while (!(await page.$('.track .run'))) {
    if (Date.now() > deadline) throw new Error('no recording appeared on the timeline');
    await sleep(2000);
    await page.click('.timeline-head button:has-text("Now")');
  }
  await shot(page, 'camera-live');
  // Hovering a recorded run of the timeline shows a thumbnail of that moment.
  const run = await page.$eval('.track .run', (r) => { const b = r.getBoundingClientRect(); return { x: b.x + b.width / 2, y: b.y + b.height / 2 }; });
  await page.mouse.move(run.x, run.y);
  await page.waitForFunction(() => { const i = document.querySelector('.track .hover img.thumb'); return i && !i.hidden && i.complete && i.naturalWidth === 160; }, null, { timeout: 15000 });
  await shot(page, 'timeline-thumbnail');
  log('timeline: a thumbnail of the hovered moment');
  await page.mouse.move(0, 0);
  // Overlay: with analysis, the zone and mask are drawn, and the tracked vehicles' boxes on live video.
  if (process.env.VIGIL_EVENTS === '1') {
    await page.click('button:has-text("Overlay")');
    try {
      await page.waitForFunction(() => Number(document.querySelector('canvas.overlay-canvas')?.dataset.objects) > 0, null, { timeout: 30000 });
    } catch (e) {
      const why = await page.evaluate(async () => ({
        canvas: { ...document.querySelector('canvas.overlay-canvas')?.dataset },
        system: (await (await fetch('/api/system')).json()).cameras,
      }));
      throw new Error(`no boxes over live video: ${JSON.stringify(why)}`);
    }
    const painted = await page.$eval('canvas.overlay-canvas', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]) n += 1;
      return n;
    });
    if (painted < 1000) throw new Error(`overlay painted ${painted} pixels`);
    await shot(page, 'camera-overlay');
    log(`overlay: tracked objects drawn over live video (${painted} pixels painted)`);
    await page.click('button:has-text("Overlay")');
  }
  await page.click('button:has-text("Last 30 s")');
  const playSel = 'video.playback';
  await page.waitForFunction((sel) => document.querySelector(sel)?.currentTime > 0.5, playSel, { timeout: 20000 });
  const [p0, p1] = await advance(page, playSel, 2000);
  const ended = await page.$eval(playSel, (v) => v.ended);
  const duration = await page.$eval(playSel, (v) => v.duration);
  log(`playback currentTime ${p0.toFixed(2)} -> ${p1.toFixed(2)} of ${duration.toFixed(2)}, ended ${ended}`);
  if (!(p1 > p0 || ended)) throw new Error(`recorded video does not play: ${p0} -> ${p1}`);
  await shot(page, 'camera-playback');
  // The timeline by keyboard: a 15-minute window, End, two steps back (18 s), Enter plays from there.
  await page.click('.timeline-head .seg button:has-text("15m")');
  await page.focus('.track');
  await page.keyboard.press('End');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  const chosen = Number(await page.getAttribute('.track', 'aria-valuenow'));
  const srcBefore = await page.$eval(playSel, (v) => v.src);
  await page.keyboard.press('Enter');
  await page.waitForFunction(([sel, before]) => document.querySelector(sel)?.src !== before, [playSel, srcBefore], { timeout: 10000 });
  const startAsked = Number(new URL(await page.$eval(playSel, (v) => v.src)).searchParams.get('start'));
  if (!(startAsked >= chosen - 1000)) throw new Error(`keyboard playback asked ${startAsked} for a moment chosen at ${chosen}`);
  log(`timeline by keyboard: played from ${new Date(startAsked).toISOString()} (${Math.round((Date.now() - chosen) / 1000)} s ago chosen)`);
  // With analysis the camera has a privacy mask and the watermark is on: playback is re-encoded on the
  // way out, a fragmented MP4 streamed as it is made (no byte ranges).
  // (Re-encoding playbacks are one per core; one busy answers 503 with Retry-After: a client waits.)
  const playHead = await page.evaluate(async (sel) => {
    let r = await fetch(document.querySelector(sel).src);
    for (let i = 0; i < 5 && r.status === 503; i += 1) {
      await new Promise((ok) => setTimeout(ok, 1000 * Number(r.headers.get('retry-after') || 1)));
      r = await fetch(document.querySelector(sel).src);
    }
    const b = new Uint8Array(await r.arrayBuffer());
    const text = new TextDecoder('latin1').decode(b);
    return { status: r.status, ranges: r.headers.get('accept-ranges'), bytes: b.length, moof: text.split('moof').length - 1 };
  }, playSel);
  log(`playback response: ${JSON.stringify(playHead)}`);
  if (process.env.VIGIL_EVENTS === '1' && !(playHead.status === 200 && playHead.ranges === 'none' && playHead.moof > 1)) {
    throw new Error(`the playback of a masked, watermarked camera was not re-encoded: ${JSON.stringify(playHead)}`);
  }

  // Export the range being played (a write: needs the CSRF token), with progress, to a download link.
  await page.click('form.export button[type=submit]');
  const link = await page.waitForSelector('form.export a[download]', { timeout: 60000 });
  const href = await link.getAttribute('href');
  const exported = await page.evaluate(async (u) => {
    const r = await fetch(u);
    return { status: r.status, type: r.headers.get('content-type'), bytes: (await r.arrayBuffer()).byteLength };
  }, href);
  log(`export: ${JSON.stringify(exported)}`);
  if (exported.status !== 200 || exported.bytes < 10000) throw new Error(`export download ${JSON.stringify(exported)}`);
  // With analysis the camera has a privacy mask: the export was re-encoded with it, and the job says so.
  const job = await page.evaluate(async (u) => (await fetch(u.replace(/\/file$/, ''))).json(), href);
  log(`export redaction: ${JSON.stringify(job.redaction || null)}`);
  if (process.env.VIGIL_EVENTS === '1' && !(job.redaction && job.redaction.reencoded && job.redaction.masks === 1 && job.redaction.asked.watermark)) {
    throw new Error(`the export of a masked camera was not masked: ${JSON.stringify(job)}`);
  }
  await shot(page, 'camera-export');

  // An evidence case: opened from the Cases page, a note added; its chain of custody lists both.
  await page.goto(`${url}/#/cases`);
  await page.fill('form.inline input[name=title]', 'UI case 1');
  await page.fill('form.inline input[name=description]', 'Opened from the browser test');
  await page.click('form.inline button[type=submit]');
  await page.waitForSelector('text=Chain of custody');
  await page.fill('textarea[name=text]', 'Checked the footage');
  await page.click('form button:has-text("Add note")');
  await page.waitForFunction(() => [...document.querySelectorAll('table.data tbody tr .tag')]
    .map((t) => t.textContent).join(' ').includes('case.note'), null, { timeout: 10000 });
  const custody = await page.$$eval('table.data tbody tr .tag', (ts) => ts.map((t) => t.textContent));
  log(`case custody: ${custody.join(', ')}`);
  if (!custody.includes('case.create') || !custody.includes('case.view')) throw new Error(`custody ${custody}`);
  await shot(page, 'case');

  // An evidence hold from the Cases page, then released (after a confirmation).
  await page.goto(`${url}/#/cases`);
  await page.waitForSelector('form.inline input[name=note]');
  await page.waitForFunction(() => document.querySelector('form.inline select[name=camera]')?.options.length > 0);
  await page.fill('form.inline input[name=note]', 'UI hold 1');
  await page.click('form.inline button:has-text("Hold footage")');
  await page.waitForSelector('td:has-text("UI hold 1")');
  await shot(page, 'hold');
  page.once('dialog', (d) => d.accept());
  await page.click('tr:has(td:has-text("UI hold 1")) button:has-text("Release")');
  await page.waitForSelector('text=No footage is held.');
  log('hold: added and released from the Cases page');

  // Every control on every page has a name a screen reader can say (a label, aria-label, title, text or
  // placeholder).
  const unnamed = async () => page.$$eval('input:not([type=hidden]), select, textarea, button', (els) => els
    .filter((el) => el.offsetParent !== null)
    .filter((el) => !(el.getAttribute('aria-label') || (el.labels && el.labels.length) || el.title
      || (el.textContent || '').trim() || el.placeholder || el.closest('label')))
    .map((el) => el.outerHTML.slice(0, 120)));
  // 7. The other pages render.
  for (const [path, sel, name] of [
    ['#/events', '.filters', 'events'],
    ['#/system', '.stats .stat', 'system'],
    ['#/audit', 'table.data tbody tr', 'audit'],
    ['#/users', 'table.data tbody tr', 'users'],
    ['#/approvals', 'text=No camera is marked sensitive', 'approvals'],
    ['#/cases', 'form.inline select[name=camera]', 'cases'],
  ]) {
    await page.goto(`${url}/${path}`);
    await page.waitForSelector(sel);
    await sleep(300);
    await shot(page, name);
    const missing = await unnamed();
    if (missing.length) throw new Error(`${name}: controls without a name: ${missing.join(' | ')}`);
  }
  // The light theme follows the system.
  await page.emulateMedia({ colorScheme: 'light' });
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const rgb = (bg.match(/\d+/g) || []).slice(0, 3).map(Number);
  if (!(rgb.length === 3 && rgb.every((c) => c > 200))) throw new Error(`light theme background ${bg}`);
  await shot(page, 'light-theme');
  await page.emulateMedia({ colorScheme: 'dark' });
  log(`light theme: background ${bg}; every control named on events, system, audit, users, approvals, cases`);
  // The System page shows each storage directory's capacity and oldest recording, and 0 as 0.
  await page.goto(`${url}/#/system`);
  await page.waitForSelector('.storage-figures');
  const figures = await page.textContent('.storage-figures');
  if (!/( of .* recorded| free of )/.test(figures) || !/oldest recording \d/.test(figures)) throw new Error(`storage figures: ${figures}`);
  const cells = await page.$$eval('.stats + section table.data tbody tr:first-child td', (tds) => tds.map((t) => t.textContent));
  const counters = cells.slice(5, 7);
  if (counters.some((c) => !/^\d+$/.test(c))) throw new Error(`skipped / reconnects shown as ${counters}`);
  // Camera health: the untouched footage is "ok" (a covered or moved camera would name its states).
  if (cells[2] !== 'ok') throw new Error(`camera health shown as ${cells[2]}`);
  log(`system: storage ${figures}; health ${cells[2]}; skipped/reconnects ${counters.join('/')}`);
  // Plate search from the Events page: this camera reads no plates, so nothing is found, and it says so.
  await page.goto(`${url}/#/events`);
  await page.fill('form.plates input[name=plate]', 'KX58 RTY');
  await page.selectOption('form.plates select[name=match]', 'fuzzy');
  await page.click('form.plates button[type=submit]');
  await page.waitForSelector('text=No plate matches');
  log('plate search: asked from the Events page, answered');
  // Recording integrity from the Audit page: the server hashes every file in the background; all is well.
  await page.goto(`${url}/#/audit`);
  await page.click('.integrity button:has-text("Verify recordings")');
  await page.waitForSelector('.integrity p:has-text("Recordings OK")', { timeout: 60000 });
  log(`integrity: ${await page.textContent('.integrity p:has-text("Recordings OK")')}`);
  await shot(page, 'integrity');
  // Events from the camera's analysis: a snapshot thumbnail, the full frame, and a jump to the footage.
  if (process.env.VIGIL_EVENTS === '1') {
    await page.goto(`${url}/#/events`);
    await page.waitForSelector('.filters');
    // New events are pushed: one appears without reloading or filtering again.
    await page.waitForSelector('.live-badge.on', { timeout: 20000 });
    const listed = await page.$$eval('.event', (e) => e.length);
    await page.waitForSelector('.event.fresh', { timeout: 90000 });
    const freshId = await page.$eval('.event.fresh', (e) => e.dataset.id);
    pushed.list = { id: freshId, ms: await page.evaluate((id) => window.__seen[`list:${id}`], freshId) };
    log(`events: a new event appeared without a reload (${listed} listed before)`);
    await shot(page, 'events-pushed');
    const until = Date.now() + 90000;
    while (!(await page.$('.event .thumb img'))) {
      if (Date.now() > until) throw new Error('no event with a snapshot appeared');
      await sleep(3000);
      await page.click('.filters button[type=submit]');
    }
    const loaded = (sel) => page.waitForFunction((s) => [...document.querySelectorAll(s)]
      .some((i) => i.complete && i.naturalWidth > 0), sel);
    await loaded('.event .thumb img');
    const count = await page.$$eval('.event', (e) => e.length);
    log(`events: ${count} listed, snapshots load`);
    await shot(page, 'events-with-snapshots');
    // The summary of the listed events: sentences with their confidence, linked to playback.
    await page.click('.filters button:has-text("Summary")');
    await page.waitForSelector('dialog.detail ol.summary li', { timeout: 30000 });
    const sentences = await page.$$eval('dialog.detail ol.summary li', (l) => l.map((x) => x.textContent.trim()));
    if (!sentences.every((x) => /^[01]\.\d\d /.test(x))) throw new Error(`summary without confidences: ${JSON.stringify(sentences)}`);
    const plays = await page.$$eval('dialog.detail ol.summary .cite a[href*="#/camera/"]', (a) => a.length);
    if (!plays) throw new Error(`summary without playback links: ${JSON.stringify(sentences)}`);
    await shot(page, 'events-summary');
    log(`summary: ${sentences.length} sentences, ${plays} playback links; "${sentences[0].slice(0, 120)}"`);
    await page.keyboard.press('Escape');
    // Times read the same everywhere in two browser time zones: the list, the event's details and the
    // server-written description agree with the event's own time, each page names its zone.
    const firstId = await page.$eval('.event', (e) => e.dataset.id);
    const readTimes = async (pg) => {
      await pg.goto(`${url}/#/events`);
      await pg.waitForSelector(`.event[data-id="${firstId}"]`);
      const row = await pg.$eval(`.event[data-id="${firstId}"] .line2`, (e) => e.textContent.split(' · ')[0]);
      await pg.click(`.event[data-id="${firstId}"]`);
      await pg.waitForSelector('dialog.detail dl');
      const detailStart = await pg.$eval('dialog.detail dl', (dl) => [...dl.querySelectorAll('dt')].find((d) => d.textContent === 'Start').nextElementSibling.textContent);
      const description = await pg.textContent('dialog.detail h2');
      const zone = await pg.textContent('#time-zone');
      const start = await pg.evaluate(async (id) => (await (await fetch('/api/events?limit=200')).json()).events.find((e) => e.id === id).start, firstId);
      const local = await pg.evaluate((ms) => { const d = new Date(ms); const p = (n) => String(n).padStart(2, '0'); return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }, start);
      await pg.keyboard.press('Escape');
      return { row, detailStart, description, zone, start, local };
    };
    const ny = await browser.newContext({ ignoreHTTPSErrors: true, timezoneId: 'America/New_York', storageState: await context.storageState() });
    const nyPage = await ny.newPage();
    const here = await readTimes(page);
    const there = await readTimes(nyPage);
    for (const t of [here, there]) {
      if (t.row !== t.local || t.detailStart !== t.local) throw new Error(`times disagree: ${JSON.stringify(t)}`);
    }
    if (!/America\/New_York \(UTC-[45]\)/.test(there.zone)) throw new Error(`zone named ${there.zone}`);
    if (here.local === there.local) throw new Error('the two zones show the same wall time');
    // The description is written by the server in the camera's zone (UTC here) and names it.
    const utc = new Date(here.start).toISOString().slice(11, 19);
    if (!here.description.includes(`${utc} UTC`)) throw new Error(`description ${here.description} vs ${utc} UTC`);
    await ny.close();
    log(`times: ${here.local} (${here.zone}) and ${there.local} (${there.zone}) for one event, list, details and description agree`);
    // The lifecycle of an object whose track has ended: its path drawn over the snapshot, its events in
    // order.
    let ended = null;
    const lifeUntil = Date.now() + 60000;
    while (!ended) {
      ended = await page.evaluate(async () => {
        const { events } = await (await fetch('/api/events?limit=200')).json();
        for (const e of events.filter((x) => x.end && x.has_snapshot && Date.now() - x.end > 4000)) {
          const life = await (await fetch(`/api/events/${e.id}/lifecycle`)).json();
          if (life.paths.length) return e.id;
        }
        return null;
      });
      if (!ended) {
        if (Date.now() > lifeUntil) throw new Error('no ended event with a stored path');
        await sleep(2000);
      }
    }
    await page.goto(`${url}/#/events`);
    await page.waitForSelector(`.event[data-id="${ended}"]`);
    await page.click(`.event[data-id="${ended}"]`);
    await page.waitForFunction(() => Number(document.querySelector('canvas.lifecycle-path')?.dataset.points) > 1, null, { timeout: 15000 });
    const steps = await page.$$eval('ol.lifecycle-steps li', (l) => l.map((x) => x.textContent));
    if (steps.length < 3 || !/first seen/.test(steps[0]) || !/last seen/.test(steps[steps.length - 1])) throw new Error(`lifecycle steps ${JSON.stringify(steps)}`);
    await shot(page, 'event-lifecycle');
    log(`lifecycle: ${steps.join(' | ')}`);
    // Its footage with the overlay on: over playback the boxes come from the stored tracks.
    await page.evaluate(() => localStorage.setItem('vigil.overlay', '1'));
    await page.click('dialog.detail a.button');
    await page.waitForFunction(() => { const c = document.querySelector('canvas.overlay-canvas'); return c?.dataset.mode === 'playback' && Number(c.dataset.objects) > 0; }, null, { timeout: 30000 });
    await shot(page, 'playback-overlay');
    log('overlay: stored tracks drawn over the playback of an event');
    await page.evaluate(() => localStorage.setItem('vigil.overlay', '0'));
    // Search: a typed query, what the server understood of it, and people found.
    await page.goto(`${url}/#/search?q=${encodeURIComponent('people or cars in the last hour')}`);
    await page.waitForSelector('.understood:has-text("class person or car")', { timeout: 15000 });
    await page.waitForSelector('.search-results .hit[data-type="event"]', { timeout: 15000 });
    const hits = await page.$$eval('.search-results .hit', (l) => l.map((x) => x.dataset.type));
    await shot(page, 'search');
    log(`search: "people or cars in the last hour" found ${hits.length} (${hits.filter((t) => t === 'event').length} events, ${hits.filter((t) => t === 'track').length} tracks)`);
    await page.goto(`${url}/#/events`);
    await page.waitForSelector('.event .thumb img');
    await page.click('.event:has(.thumb img)');
    await loaded('dialog.detail img.full');
    await shot(page, 'event-detail');
    await page.click('dialog.detail a.button');
    try {
      await page.waitForFunction((sel) => document.querySelector(sel)?.currentTime > 0.3, 'video.playback', { timeout: 30000 });
    } catch (e) {
      const v = await page.evaluate(async (cam) => {
        const el = document.querySelector('video.playback');
        const now = Date.now();
        const runs = await (await fetch(`/api/cameras/${cam}/recordings?start=${now - 300000}&end=${now}`)).json();
        return el && { src: el.src, error: el.error && el.error.message, ready: el.readyState, t: el.currentTime, hidden: el.hidden, now, hash: location.hash, runs, toast: document.body.innerText.slice(-300) };
      }, camera);
      throw new Error(`the event's footage does not play: ${JSON.stringify(v)} (${e.message})`);
    }
    log('the event\'s footage plays');
    // The camera's timeline marks its events (it asked the API with a time where a cursor belongs, and
    // always said "0 events").
    await page.waitForSelector('.track .ev', { timeout: 15000 });
    const legend = await page.textContent('.legend');
    if (/· 0 events/.test(legend)) throw new Error(`timeline legend: ${legend}`);
    log(`timeline: ${legend.replace(/\s+/g, ' ').trim()}`);
    // Events are pushed onto the timeline as they happen, without a reload.
    const marks = await page.$$eval('.track .ev', (e) => e.length);
    const before = await page.$$eval('.track .ev', (e) => e.map((x) => x.dataset.id));
    await page.waitForFunction((n) => document.querySelectorAll('.track .ev').length > n, marks, { timeout: 90000 });
    const newMark = await page.$$eval('.track .ev', (e, old) => e.map((x) => x.dataset.id).find((id) => !old.includes(id)), before);
    if (newMark) pushed.timeline = { id: newMark, ms: await page.evaluate((id) => window.__seen[`timeline:${id}`], newMark) };
    log(`timeline: a pushed event marked without a reload (${marks} before)`);
    await shot(page, 'timeline-pushed');
  } else {
    log('SKIP: events with snapshots (no models or ONNX Runtime: the camera is not analysed)');
  }

  // Add a viewer scoped to the camera, allowed to watch recordings.
  await page.goto(`${url}/#/users`);
  await page.waitForSelector('form.grid-form');
  await page.fill('form.grid-form input[name=username]', 'guard');
  await page.fill('form.grid-form input[name=password]', 'another long passphrase 7');
  await page.selectOption('form.grid-form select[name=role]', 'viewer');
  await page.fill('form.grid-form input[name=cameras]', camera);
  await page.check('form.grid-form input[name=playback]');
  await page.click('form.grid-form button[type=submit]');
  await page.waitForSelector('table.data tbody tr:has-text("guard")');
  await shot(page, 'users-added');
  // Passwords, disabling and API tokens from the Users page.
  page.once('dialog', (d) => d.accept('tulip orbit 42 canyon river'));
  await page.click('tr:has-text("guard") button:has-text("Set password")');
  await page.waitForSelector('#toast:has-text("Password of guard changed")');
  page.once('dialog', (d) => d.accept());
  await page.click('tr:has-text("guard") button:has-text("Disable")');
  await page.waitForSelector('tr:has-text("guard") .badge:has-text("disabled")');
  await page.click('tr:has-text("guard") button:has-text("Enable")');
  await page.waitForFunction(() => ![...document.querySelectorAll('tr')].some((r) => r.textContent.includes('guard') && r.textContent.includes('disabled')));
  await page.fill('form.token-form input[name=token_name]', 'ui-test-token');
  await page.check('form.token-form input[value=events]');
  await page.click('form.token-form button[type=submit]');
  await page.waitForSelector('.token-secret code.secret');
  const tokenSecret = await page.textContent('.token-secret code.secret');
  const withToken = await page.evaluate(async (t) => (await fetch('/api/events?limit=1', { headers: { Authorization: `Bearer ${t}` }, credentials: 'omit' })).status, tokenSecret.trim());
  if (withToken !== 200) throw new Error(`a token made in the UI answered ${withToken}`);
  await shot(page, 'users-tokens');
  page.once('dialog', (d) => d.accept());
  await page.click('tr:has-text("ui-test-token") button:has-text("Revoke")');
  await page.waitForSelector('text=No API token.');
  log('users: password set, disabled and enabled again; a token made, used and revoked in the browser');
  const zone = await page.textContent('#time-zone');
  if (!/^times: (UTC$|.+ \(UTC)/.test(zone)) throw new Error(`time zone label: ${zone}`);
  // An auditor, for the privacy page (step 10).
  await page.fill('form.grid-form input[name=username]', 'audrey');
  await page.fill('form.grid-form input[name=password]', 'auditors passphrase 1234');
  await page.selectOption('form.grid-form select[name=role]', 'auditor');
  await page.fill('form.grid-form input[name=cameras]', '');
  await page.uncheck('form.grid-form input[name=playback]');
  await page.click('form.grid-form button[type=submit]');
  await page.waitForSelector('table.data tbody tr:has-text("audrey")');
  const audit = await page.evaluate(async () => (await (await fetch('/api/audit?limit=200')).json()).entries);
  const liveViews = audit.filter((e) => /live/.test(e.action) && e.user === 'chief');
  log(`audit: ${audit.length} entries, ${liveViews.length} live views by ${USER}`);
  if (!liveViews.length) throw new Error(`no live view in the audit log: ${JSON.stringify(audit.map((e) => e.action))}`);
  const actions = await page.$$eval('#nav a', (a) => a.length);
  if (actions < 5) throw new Error(`admin sees ${actions} pages`);
  // Watchlists: the admin enrols a person from a photo (shrunk in the browser, sent to the API).
  if (process.env.VIGIL_FACE_PHOTO) {
    await page.click('#nav a[href="#/watchlists"]');
    await page.waitForSelector('form.inline input[name=photo]');
    await page.fill('form.inline input[name=name]', 'Ann Example');
    await page.fill('form.inline input[name=list]', 'staff');
    await page.setInputFiles('form.inline input[name=photo]', process.env.VIGIL_FACE_PHOTO);
    await page.click('form.inline button[type=submit]');
    await page.waitForSelector('table.data tbody tr:has-text("Ann Example")');
    await shot(page, 'watchlist-enrolled');
    log('watchlist: a person enrolled from a photo in the browser');
    await page.setInputFiles('form.identify input[name=probe]', process.env.VIGIL_FACE_PHOTO);
    await page.click('form.identify button[type=submit]');
    await page.waitForSelector('.identify-answer:has-text("Ann Example")');
    log(`watchlist: search by photo: ${await page.textContent('.identify-answer')}`);
  }

  // Plate lists: the admin puts a plate on a new list, sees it listed, and takes it off again.
  await page.click('#nav a[href="#/watchlists"]');
  await page.waitForSelector('form.plate-add input[name=plate]');
  await page.fill('form.plate-add input[name=list]', 'visitors');
  await page.fill('form.plate-add input[name=plate]', 'KX58 RTY');
  await page.fill('form.plate-add input[name=note]', 'delivery van');
  await page.selectOption('form.plate-add select[name=alert]', 'low');
  await page.click('form.plate-add button[type=submit]');
  await page.waitForSelector('.plate-lists h3:has-text("visitors")');
  await page.waitForSelector('.plate-lists td.plate:has-text("KX58 RTY")');
  await shot(page, 'plate-list');
  await page.click('.plate-lists tr:has-text("KX58 RTY") button:has-text("Remove")');
  await page.waitForFunction(() => !document.querySelector('.plate-lists td.plate'));
  log('plate lists: a plate added to a new list and removed in the browser');

  // Camera groups and a wall display: a group made on the Layouts page is offered on the Live page in
  // its saved layout; a display link opens the group live in a browser nobody logged into, with no
  // menus; revoking it stops the screen.
  await page.click('#nav a[href="#/layouts"]');
  await page.waitForSelector('form.card input[name=name]');
  await page.fill('form.card input[name=name]', 'Front');
  await page.selectOption('select[aria-label="Camera to add"]', camera);
  await page.selectOption('form.card select[name=columns]', '1');
  await page.click('form.card button:has-text("Create group")');
  await page.waitForSelector('table.data tbody tr:has-text("Front")');
  const unnamedLayouts = await unnamed();
  if (unnamedLayouts.length) throw new Error(`layouts: controls without a name: ${unnamedLayouts.join(' | ')}`);
  await page.fill('input[name=display]', 'Lobby wall');
  await page.click('button:has-text("Make display link")');
  await page.waitForSelector('input[data-display-url]');
  const displayUrl = await page.$eval('input[data-display-url]', (i) => i.value);
  await shot(page, 'layouts');
  await page.goto(`${url}/#/`);
  await page.selectOption('select[aria-label="Camera group"]', { label: 'Front' });
  await page.waitForSelector('h1:has-text("Live · Front")');
  const gridLayout = await page.$eval('.grid', (g) => g.dataset.layout);
  if (gridLayout !== '1') throw new Error(`the group's saved layout: ${gridLayout}`);
  await page.selectOption('select[aria-label="Camera group"]', { label: 'All cameras' });
  const wall = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 720 } });
  const kiosk = await wall.newPage();
  kiosk.on('pageerror', (e) => errors.push(`kiosk: ${e.message}`));
  await kiosk.goto(displayUrl);
  await kiosk.waitForFunction((sel) => document.querySelector(sel)?.currentTime > 0.5, liveSel, { timeout: 30000 });
  if (await kiosk.isVisible('#topbar')) throw new Error('the wall display shows the menu');
  if (kiosk.url().includes('vgd_')) throw new Error(`the display secret stayed in the address bar: ${kiosk.url()}`);
  await shot(kiosk, 'wall-display');
  // The events of the cameras are not the display's to read.
  const displayEvents = await kiosk.evaluate(async () => (await fetch('/api/events?limit=1')).status);
  if (displayEvents !== 403) throw new Error(`a wall display read events: ${displayEvents}`);
  await page.goto(`${url}/#/layouts`);
  page.once('dialog', (d) => d.accept());
  await page.click('tr:has-text("Lobby wall") button:has-text("Revoke")');
  await page.waitForSelector('text=No wall displays.');
  await kiosk.waitForSelector('text=This display was revoked', { timeout: 20000 });
  await wall.close();
  log('layouts: a group in its saved layout on the Live page; a wall display played it live without a login and stopped when revoked');

  // Configuration in the browser: a zone drawn over the live picture and a rule on it land in
  // vigil.toml (checked, versioned) and, with analysis, the rule fires on the footage after the
  // in-process restart that a new zone needs.
  await page.goto(`${url}/#/settings/${encodeURIComponent(camera)}`);
  await page.waitForSelector('canvas.draw-canvas');
  await page.waitForFunction(() => document.querySelector('.drawing video')?.videoWidth > 0, null, { timeout: 30000 });
  await page.fill('input[name=shape_name]', 'Drawn');
  const area = await page.$eval('canvas.draw-canvas', (c) => { const r = c.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
  for (const [fx, fy] of [[0.03, 0.03], [0.97, 0.03], [0.97, 0.97], [0.03, 0.97]]) {
    await page.mouse.click(area.x + area.w * fx, area.y + area.h * fy);
  }
  await page.click('button:has-text("Finish shape")');
  await page.waitForSelector('ul.shapes input[value="Drawn"]');
  const unnamedSettings = await unnamed();
  if (unnamedSettings.length) throw new Error(`settings: controls without a name: ${unnamedSettings.join(' | ')}`);
  await shot(page, 'settings-drawn');
  await page.click('button:has-text("Save zones, lines and masks")');
  await page.waitForSelector('p[role=status]:has-text("Saved to vigil.toml")');
  log(`settings: ${await page.textContent('p[role=status]')}`);
  // The page comes back by itself after the restart, with the zone in it.
  await page.waitForSelector('select[name=target] option[value="Drawn"]', { state: 'attached', timeout: 60000 });
  await page.fill('input[name=rule_name]', 'Drawn vehicles');
  await page.selectOption('select[name=kind]', 'intrusion');
  await page.selectOption('select[name=target]', 'Drawn');
  for (const k of ['person', 'car', 'bus', 'truck']) await page.check(`input[name=class][value=${k}]`);
  await page.click('button:has-text("Save rule")');
  await page.waitForSelector('p[role=status]:has-text("Saved to vigil.toml")');
  await page.waitForSelector('td:has-text("Drawn vehicles")', { timeout: 60000 });
  const saved = await page.evaluate(async () => (await (await fetch('/api/config')).json()).text);
  if (!/name = "Drawn"/.test(saved) || !/name = "Drawn vehicles"/.test(saved)) throw new Error(`vigil.toml after the browser's changes:\n${saved}`);
  // A broken text is refused with its line, and nothing is written.
  await page.fill('textarea.config-text', `${saved}\n[[rules.${camera}.rule]]\nname = "Broken"\nkind = "intrusion"\nzone = "Nowhere"\n`);
  await page.click('button:has-text("Save file")');
  await page.waitForSelector('ul.problems li:has-text("Nowhere")');
  log(`settings: a broken text refused: ${await page.textContent('ul.problems li')}`);
  await shot(page, 'settings-refused');
  if (process.env.VIGIL_EVENTS === '1') {
    const fired = async () => page.evaluate(async () => (await (await fetch('/api/events?limit=200')).json()).events.filter((e) => e.rule === 'Drawn vehicles').length);
    const until = Date.now() + 60000;
    while (!(await fired())) {
      if (Date.now() > until) throw new Error('the rule drawn in the browser never fired');
      await sleep(1000);
    }
    log('settings: the rule on the zone drawn in the browser fired on the footage');
    // A preview of the rule form (not saved) on the last minute of recording.
    await page.goto(`${url}/#/settings/${encodeURIComponent(camera)}`);
    await page.waitForSelector('select[name=target] option[value="Drawn"]', { state: 'attached' });
    await page.fill('input[name=rule_name]', 'Drawn vehicles');
    await page.selectOption('select[name=target]', 'Drawn');
    for (const k of ['car', 'bus', 'truck']) await page.check(`input[name=class][value=${k}]`);
    await page.fill('input[name=rule_minutes]', '1');
    await page.click('form.card button:has-text("Preview on recent recording")');
    await page.waitForSelector('p.preview:has-text("would have raised")', { timeout: 120000 });
    log(`settings: rule preview: ${await page.textContent('form.card p.preview')}`);
  }

  // 8. Phone-sized layout.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${url}/#/`);
  await page.waitForFunction((sel) => document.querySelector(sel)?.currentTime > 0.5, liveSel, { timeout: 30000 });
  await shot(page, 'phone-grid');
  await page.setViewportSize({ width: 1360, height: 860 });

  // 9. Log out: back to the login page, and the API refuses the old session.
  await page.click('#logout');
  await page.waitForSelector('input[name=username]');
  const me = await page.evaluate(async () => (await fetch('/api/me')).status);
  if (me !== 401) throw new Error(`/api/me after logout answered ${me}`);
  await shot(page, 'logged-out');

  // 10. The auditor erases the camera's footage so far (an erasure request) from the Privacy page,
  // after a confirmation, and gets the printable report: the segments, bytes and events that went.
  await page.fill('input[name=username]', 'audrey');
  await page.fill('input[name=password]', 'auditors passphrase 1234');
  await page.click('button[type=submit]');
  await page.waitForSelector('#nav a[href="#/privacy"]');
  // The auditor may not watch cameras: a camera's page says so instead of showing it offline.
  await page.goto(`${url}/#/camera/${encodeURIComponent(camera)}`);
  await page.waitForSelector('.no-access');
  if (await page.$('video.live')) throw new Error('a camera page without access started a live player');
  await shot(page, 'no-access');
  log('a camera outside the user\'s access: "No access", no player');
  await page.click('#nav a[href="#/privacy"]');
  await page.waitForFunction(() => document.querySelector('form.inline select[name=camera]')?.options.length > 0);
  await page.selectOption('form.inline select[name=camera]', camera);
  await page.$eval('form.inline', (f) => {
    const local = (ms) => { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000); return d.toISOString().slice(0, 19); };
    f.querySelector('input[name=from]').value = local(Date.now() - 30 * 60000);
    f.querySelector('input[name=to]').value = local(Date.now() - 10000);
  });
  await page.fill('form.inline input[name=reason]', 'GDPR request 14');
  // Blurring up to now reaches into the segment being recorded: refused, saying why (or, on a box
  // without the face and plate models, that they are needed), and nothing starts.
  const toNow = await page.$eval('form.inline input[name=to]', (i) => i.value);
  await page.$eval('form.inline', (f) => {
    const d = new Date(Date.now() + 60000 - new Date().getTimezoneOffset() * 60000);
    f.querySelector('input[name=to]').value = d.toISOString().slice(0, 19);
  });
  await page.selectOption('form.inline select[name=mode]', 'blur');
  page.once('dialog', (d) => d.accept());
  await page.click('form.inline button:has-text("Erase")');
  await page.waitForSelector('text=/still being recorded|models are needed/');
  log('blurring into the segment being recorded: refused with a clear message');
  await page.selectOption('form.inline select[name=mode]', 'delete');
  await page.fill('form.inline input[name=to]', toNow);
  page.once('dialog', (d) => d.accept());
  await page.click('form.inline button:has-text("Erase")');
  await page.waitForSelector('text=Erasure report');
  const report = await page.$$eval('table.kv tr', (rows) => Object.fromEntries(rows.map((r) => [r.cells[0].textContent, r.cells[1].textContent])));
  log(`erasure report: ${JSON.stringify(report)}`);
  if (!(Number(report.Segments) > 0) || report.Reason !== 'GDPR request 14') throw new Error(`erasure report ${JSON.stringify(report)}`);
  await shot(page, 'erasure-report');
  await page.emulateMedia({ media: 'print' });
  if (await page.isVisible('#topbar') || await page.isVisible('button:has-text("Print")')) throw new Error('the navigation or buttons would print');
  await shot(page, 'erasure-report-print');
  await page.emulateMedia({ media: 'screen' });
  await page.goto(`${url}/#/privacy`);
  await page.waitForSelector('td:has-text("GDPR request 14")');
  log('erasure: carried out by the auditor, reported, listed');
  // Biometric data of someone never enrolled: the server says so.
  await page.fill('form.biometric input[name=person]', 'Nobody Known');
  await page.fill('form.biometric input[name=reason]', 'DSAR 15');
  page.once('dialog', (d) => d.accept());
  await page.click('form.biometric button[type=submit]');
  await page.waitForSelector('text=nobody called "Nobody Known" is enrolled');
  log('biometric erasure of an unknown person: refused with a clear message');
  log(`pushed ${JSON.stringify(pushed)}`);
  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  if (csp.length) throw new Error(`Content-Security-Policy violations: ${csp.join('; ')}`);
  log('no Content-Security-Policy violation');
  log('OK');
} catch (e) {
  failed = true;
  console.error('[ui-test] FAILED:', e.message);
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages[0]) await pages[0].screenshot({ path: join(shots, 'failure.png') });
  } catch { /* best effort */ }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
