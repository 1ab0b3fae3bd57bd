// Plays MP4 files to the end in headless Chromium (playwright-core): for each file, a page with a <video>
// next to it is opened, played at 16x, and must reach `ended` without a media error. Prints one line per
// file and `[play] OK` when all played. Run by crates/vigil/tests/record_e2e.rs.
//
// Usage: node play.mjs FILE.mp4...   Env: VIGIL_NODE_MODULES (playwright-core), VIGIL_CHROMIUM (browser).

import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(join(process.env.VIGIL_NODE_MODULES, 'noop.js'));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.VIGIL_CHROMIUM,
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'],
});
let failed = 0;
try {
  const page = await browser.newPage();
  for (const file of process.argv.slice(2)) {
    const html = join(dirname(file), `play-${basename(file)}.html`);
    writeFileSync(html, `<!doctype html><video id="v" muted src="${basename(file)}"></video>`);
    await page.goto(pathToFileURL(html).href);
    const result = await page.evaluate(() => new Promise((resolve) => {
      const v = document.getElementById('v');
      const done = (r) => resolve({ ...r, currentTime: v.currentTime, duration: v.duration });
      v.addEventListener('ended', () => done({ ended: true }));
      v.addEventListener('error', () => done({ ended: false, error: v.error && v.error.message }));
      setTimeout(() => done({ ended: false, error: 'timeout' }), 30000);
      v.playbackRate = 16;
      v.play().catch((e) => done({ ended: false, error: String(e) }));
    }));
    console.log(`[play] ${basename(file)}: ${JSON.stringify(result)}`);
    if (!result.ended) failed++;
  }
} finally {
  await browser.close();
}
if (failed) {
  console.log(`[play] ${failed} file(s) did not play to the end`);
  process.exit(1);
}
console.log('[play] OK');
