// The Dashboards page in headless Chromium, driven by playwright-core, against a real `vigil run` whose
// store holds known figures (see ../ui_dashboards.rs): the admin sees KPI tiles, SVG charts with data and
// the scheduled report; the analyst lands on the dashboards, has no video pages in the navigation, sees
// the heatmap over a blank grid and is refused video, events and faces. Screenshots go to
// $VIGIL_SCREENSHOTS.
//
// Env: VIGIL_URL, VIGIL_SCREENSHOTS, VIGIL_NODE_MODULES, VIGIL_CHROMIUM, VIGIL_REPORT_ID.

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
const reportId = env('VIGIL_REPORT_ID');
const require = createRequire(join(env('VIGIL_NODE_MODULES'), 'noop.js'));
const { chromium } = require('playwright-core');
mkdirSync(shots, { recursive: true });
const log = (...a) => console.log('[dash-test]', ...a);
const check = (ok, what) => { if (!ok) throw new Error(`check failed: ${what}`); log('ok:', what); };

let n = 0;
async function shot(page, name) {
  n += 1;
  const file = join(shots, `${String(n).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log('screenshot', file);
}

async function login(page, user, password) {
  await page.goto(`${url}/#/login`);
  await page.waitForSelector('input[name=username]');
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#nav a');
}

async function dashboard(page) {
  if (!page.url().includes('#/dashboards')) await page.click('#nav a[href="#/dashboards"]');
  await page.waitForSelector('svg[data-chart=footfall] rect');
  await page.waitForSelector('[data-kpi=footfall_in] .kpi-value');
  const kpi = async (k) => (await page.textContent(`[data-kpi=${k}] .kpi-value`)).trim();
  check(await kpi('footfall_in') === '7', `footfall in tile is 7 (got ${await kpi('footfall_in')})`);
  check(await kpi('footfall_out') === '3', `footfall out tile is 3 (got ${await kpi('footfall_out')})`);
  check(await kpi('mean_queue_wait_s') === '30 s', `queue wait tile is 30 s (got ${await kpi('mean_queue_wait_s')})`);
  const bars = await page.$$eval('svg[data-chart=footfall] rect[data-value]', (l) => l.map((r) => Number(r.dataset.value)));
  const sum = bars.reduce((a, b) => a + b, 0);
  // in + out this period (10) and in last period (yesterday's 5 when the range is today)
  check(sum >= 10, `footfall bars carry the counts (sum ${sum})`);
  check(await page.$('svg[data-chart=occupancy] circle') !== null, 'occupancy line has points');
  check(await page.$('svg[data-chart=dwell] rect') !== null, 'dwell histogram has bars');
  check(await page.$('svg[data-chart=queues] circle') !== null, 'queue line has points');
  await page.waitForFunction(() => {
    const img = document.querySelector('img.heat-overlay');
    return img && img.complete && img.naturalWidth === 640;
  });
  log('heatmap PNG loaded');
  const csv = await page.$$eval('a[data-csv]', (l) => l.map((a) => a.dataset.csv));
  check(['footfall', 'occupancy', 'dwell', 'queues', 'heatmap'].every((c) => csv.includes(c)), `CSV links: ${csv}`);
  const csvText = await page.evaluate(async () => (await fetch(document.querySelector('a[data-csv=footfall]').href)).text());
  check(csvText.startsWith('start,end,label,in,out'), 'footfall CSV downloads');
  check(await page.$(`a[href="/api/reports/${reportId}.pdf"]`) !== null, 'the scheduled report is listed with its PDF');
}

const browser = await chromium.launch({
  executablePath: process.env.VIGIL_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu'],
});
let failed = false;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') { log('console error:', m.text()); if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); } });

  // The admin: dashboards over the thumbnail.
  await login(page, 'keeper', 'tulip-orbit-42-canyon');
  // wait for the first recorded segment, so the heatmap has a picture to lie over (polled from here:
  // waitForFunction takes the promise of an async predicate for a truthy answer)
  for (let tries = 0; ; tries += 1) {
    const ready = await page.evaluate(async () => {
      const now = Date.now();
      const runs = await (await fetch(`/api/cameras/yard/recordings?start=${now - 3600e3}&end=${now}`)).json();
      // a run whose first picture the server can already show (its first fragment is written)
      const run = runs.find((r) => r.end > r.start + 1000);
      return !!run && (await fetch(`/api/cameras/yard/thumbnail.jpg?at=${run.start}`)).status === 200;
    });
    if (ready) break;
    if (tries > 60) throw new Error('no recording with a picture after 30 s');
    await new Promise((r) => setTimeout(r, 500));
  }
  // The page drawn at login (if it landed there) knew no recording yet: draw it again now.
  if (page.url().includes('#/dashboards')) await page.reload();
  await dashboard(page);
  // the recording's last picture in the range (vigil has recorded for a few seconds by now)
  try {
    await page.waitForFunction(() => {
      const img = document.querySelector('img.heat-bg');
      return img && img.complete && img.naturalWidth > 0;
    }, null, { timeout: 30000 });
  } catch (e) {
    const why = await page.evaluate(async () => {
      const now = Date.now();
      const runs = await (await fetch(`/api/cameras/yard/recordings?start=${now - 3600e3}&end=${now}`)).json();
      const img = document.querySelector('img.heat-bg');
      const thumb = img ? await fetch(img.src) : null;
      // what the page itself asked, again
      const o = new URL(document.querySelector('img.heat-overlay').src);
      const [from, to] = [o.searchParams.get('from'), o.searchParams.get('to')];
      const pr = await fetch(`/api/cameras/yard/recordings?start=${from}&end=${to}`);
      const pageRuns = pr.status === 200 ? await pr.json() : `${pr.status} ${await pr.text()}`;
      const last = Array.isArray(pageRuns) ? pageRuns.filter((r) => r.end > r.start).pop() : null;
      const at = last ? Math.max(last.start, Math.min(last.end, Number(to)) - 2000) : null;
      const t2 = at ? await fetch(`/api/cameras/yard/thumbnail.jpg?at=${at}&width=640`) : null;
      const pageThumb = t2 && { at, status: t2.status, text: t2.status !== 200 ? await t2.text() : '' };
      const app = await import('/assets/app.js');
      return { mayPlayback: app.may('playback'), pageRuns, pageThumb, hash: location.hash, runs, stack: document.querySelector('.heat-stack')?.outerHTML.slice(0, 400), src: img?.src,
        thumb: thumb && { status: thumb.status, type: thumb.headers.get('content-type'), text: thumb.status !== 200 ? await thumb.text() : '' } };
    });
    throw new Error(`the admin's heatmap has no picture under it: ${JSON.stringify(why)} (${e.message})`);
  }
  check(true, 'the admin\'s heatmap lies over the camera picture (thumbnail loaded)');
  await shot(page, 'dashboards-admin');
  await page.click('#logout');
  await page.waitForSelector('input[name=username]');

  // The analyst: figures, never a picture.
  await login(page, 'ann', 'ledger-prism-77-harbour');
  await page.waitForSelector('svg[data-chart=footfall]');
  check(page.url().includes('#/dashboards'), 'the analyst lands on the dashboards');
  const nav = await page.$$eval('#nav a', (l) => l.map((a) => a.getAttribute('href')));
  check(!nav.includes('#/') && !nav.includes('#/events') && !nav.includes('#/cases'), `no video or events pages in the navigation: ${nav}`);
  await dashboard(page);
  check(await page.$('.heat-bg.blank') !== null && await page.$('img.heat-bg') === null, 'the analyst\'s heatmap lies over a blank grid');
  await shot(page, 'dashboards-analyst');
  const statuses = await page.evaluate(async () => {
    const now = Date.now();
    const out = {};
    for (const u of ['/api/events', `/api/cameras/yard/recordings?start=${now - 60000}&end=${now}`,
      `/api/cameras/yard/thumbnail.jpg?at=${now - 60000}`, '/api/faces/people', `/api/analytics/kpis?camera=yard`]) {
      out[u.split('?')[0]] = (await fetch(u)).status;
    }
    return out;
  });
  log('analyst statuses', JSON.stringify(statuses));
  check(statuses['/api/events'] === 403 && statuses['/api/cameras/yard/recordings'] === 403
    && statuses['/api/cameras/yard/thumbnail.jpg'] === 403 && statuses['/api/faces/people'] === 403, 'video, events and faces refused');
  check(statuses['/api/analytics/kpis'] === 200, 'analytics allowed');
  const pdf = await page.evaluate(async (id) => {
    const r = await fetch(`/api/reports/${id}.pdf`);
    return [r.status, r.headers.get('content-type')];
  }, reportId);
  check(pdf[0] === 200 && pdf[1] === 'application/pdf', 'the analyst downloads the report PDF');
  check(errors.length === 0, `no page errors: ${errors.join(' | ')}`);
  log('OK');
} catch (e) {
  failed = true;
  console.error('[dash-test] FAILED:', e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
