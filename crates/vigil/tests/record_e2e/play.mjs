// Plays MP4 files to the end in headless Chromium (playwright-core): for each file, a page with a <video>
// next to it is opened, played at 16x, and must reach `ended` without a media error. A file given as
// FILE.mp4@CODEC is a fragmented MP4 fed through Media Source Extensions instead (one SourceBuffer of type
// `video/mp4; codecs="CODEC"`, as the web UI's live view does, starting at the first buffered frame).
// Prints one line per file and `[play] OK` when all played. Run by crates/vigil/tests/record_e2e.rs.
//
// Usage: node play.mjs FILE.mp4[@CODEC]...
// Env: VIGIL_NODE_MODULES (playwright-core), VIGIL_CHROMIUM (browser).

import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
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
  for (const arg of process.argv.slice(2)) {
    const at = arg.lastIndexOf('@');
    const [file, codec] = at > 0 ? [arg.slice(0, at), arg.slice(at + 1)] : [arg, null];
    const html = join(dirname(file), `play-${basename(file)}.html`);
    writeFileSync(html, codec
      ? '<!doctype html><video id="v" muted></video>'
      : `<!doctype html><video id="v" muted src="${basename(file)}"></video>`);
    await page.goto(pathToFileURL(html).href);
    const data = codec ? readFileSync(file).toString('base64') : null;
    const result = await page.evaluate(({ codec, data }) => new Promise((resolve) => {
      const v = document.getElementById('v');
      const ranges = () => Array.from({ length: v.buffered.length },
        (_, i) => [v.buffered.start(i), v.buffered.end(i)]);
      const done = (r) => resolve({
        ...r, currentTime: v.currentTime, duration: v.duration,
        ...(r.ended ? {} : { buffered: ranges() }),
      });
      v.addEventListener('ended', () => done({ ended: true }));
      v.addEventListener('error', () => done({ ended: false, error: v.error && v.error.message }));
      setTimeout(() => done({ ended: false, error: 'timeout' }), 30000);
      // (Loading a source resets playbackRate to the default rate: set both.)
      v.defaultPlaybackRate = 16;
      v.playbackRate = 16;
      const play = () => v.play().catch((e) => done({ ended: false, error: String(e) }));
      if (!codec) { play(); return; }
      const mime = `video/mp4; codecs="${codec}"`;
      if (!MediaSource.isTypeSupported(mime)) { done({ ended: false, error: `unsupported ${mime}` }); return; }
      const ms = new MediaSource();
      v.src = URL.createObjectURL(ms);
      ms.addEventListener('sourceopen', () => {
        const sb = ms.addSourceBuffer(mime);
        sb.addEventListener('error', () => done({ ended: false, error: 'SourceBuffer error' }));
        sb.addEventListener('updateend', () => {
          ms.endOfStream();
          v.currentTime = v.buffered.length ? v.buffered.start(0) : 0;
          play();
        }, { once: true });
        sb.appendBuffer(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
      }, { once: true });
    }), { codec, data });
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
