// One camera: live view, the recording timeline (recorded runs and events over a chosen window), playback
// of any recorded moment through playback.mp4, and evidence export with progress.

import { get, post, qs, cam } from '../api.js';
import { routeQuery, may } from '../app.js';
import { LivePlayer } from '../live.js';
import { Overlay } from '../overlay.js';
import { ptzPanel } from '../ptz.js';
import { subscribe } from '../alerts.js';
import { h, mount, toast, fmtTime, fmtClock, fmtBytes, toLocalInput, fromLocalInput } from '../util.js';

const WINDOWS = [
  ['15m', 15 * 60e3], ['1h', 3600e3], ['6h', 6 * 3600e3], ['24h', 24 * 3600e3],
];
const MAX_CLIP_MS = 30 * 60e3;

export async function render(_ctx, name) {
  // A camera outside the user's scope (or none of that name: the server answers both alike) is said so,
  // not shown as an offline camera retried for ever.
  let cameras = null;
  try { cameras = await get('/api/cameras'); } catch (e) { if (e.status === 403) cameras = []; }
  if (cameras && !cameras.some((c) => c.name === name)) {
    mount(h('div.page-head', h('h1', h('a.back', { href: '#/', 'aria-label': 'Back to all cameras' }, '‹'), ' ', name)),
      h('section.card.no-access', h('h2', 'No access'),
        h('p', `You may not see the camera “${name}”, or there is no camera by that name. An administrator can add it to your cameras.`)));
    return undefined;
  }
  const liveVideo = h('video.live', { muted: true, playsinline: true });
  const playVideo = h('video.playback', { controls: true, playsinline: true, muted: true, hidden: true });
  const liveBadge = h('span.badge', 'connecting');
  const latency = h('span.badge.latency');
  const modeLabel = h('span.badge.mode', 'LIVE');
  const player = new LivePlayer(liveVideo, name, {
    onState: (s, detail) => { liveBadge.textContent = detail ? `${s}: ${detail}` : s; liveBadge.className = `badge ${s}`; },
  });

  let windowMs = 3600e3;
  let windowEnd = Date.now();
  let runs = [];
  let events = [];
  let clipStart = null; // unix ms of the playing clip's start
  let clipEnd = null;   // and end
  let clipAsked = null; // when it was asked for
  let cursor = null;    // last chosen moment (for export defaults)

  const track = h('div.track', {
    onclick: (e) => pick(e), tabindex: 0, role: 'slider',
    'aria-label': 'Timeline: arrows choose a moment (Shift for bigger steps, Home and End for the window\'s ends), Enter plays it',
  });
  const ticks = h('div.ticks');
  const playhead = h('div.playhead', { hidden: true });
  const hover = h('div.hover', { hidden: true });
  track.append(playhead, hover);
  // Hovering the timeline shows the time and, over a recorded run, a thumbnail of that moment (asked
  // for after a short pause, rounded to 10 s so the browser's cache serves nearby positions).
  const hoverTime = h('span');
  const hoverImg = h('img.thumb', { alt: '', hidden: true, width: 160 });
  hover.append(hoverImg, hoverTime);
  let thumbTimer = null;
  track.addEventListener('mousemove', (e) => {
    const t = timeAt(e);
    hover.hidden = false;
    hover.style.left = `${pct(t)}%`;
    hoverTime.textContent = fmtClock(t);
    clearTimeout(thumbTimer);
    const run = runs.find((r) => r.start <= t && r.end > t);
    if (!run || !may('playback')) { hoverImg.hidden = true; return; }
    thumbTimer = setTimeout(() => {
      const at = Math.max(run.start, Math.floor(t / 10e3) * 10e3);
      const src = `/api/cameras/${cam(name)}/thumbnail.jpg${qs({ at, width: 160 })}`;
      if (hoverImg.getAttribute('src') !== src) hoverImg.src = src;
      hoverImg.hidden = false;
    }, 120);
  });
  hoverImg.addEventListener('error', () => { hoverImg.hidden = true; });
  track.addEventListener('mouseleave', () => { hover.hidden = true; clearTimeout(thumbTimer); });
  // Keyboard: a cursor moved with the arrows (1 % of the window, 10 % with Shift), Home / End, Enter or
  // Space plays from it.
  let keyAt = null;
  track.addEventListener('keydown', (e) => {
    const step = windowMs * (e.shiftKey ? 0.1 : 0.01);
    const now = keyAt ?? (clipStart !== null ? clipStart + playVideo.currentTime * 1000 : windowEnd);
    let next = null;
    if (e.key === 'ArrowLeft' || e.key === 'ArrowDown') next = now - step;
    else if (e.key === 'ArrowRight' || e.key === 'ArrowUp') next = now + step;
    else if (e.key === 'Home') next = from();
    else if (e.key === 'End') next = windowEnd;
    else if ((e.key === 'Enter' || e.key === ' ') && keyAt !== null) {
      e.preventDefault();
      if (!may('playback')) { toast('You may not watch recordings.', 'warn'); return; }
      playAt(keyAt);
      return;
    }
    if (next === null) return;
    e.preventDefault();
    keyAt = Math.max(from(), Math.min(windowEnd, next));
    hover.hidden = false;
    hover.style.left = `${pct(keyAt)}%`;
    hover.textContent = fmtClock(keyAt);
    track.setAttribute('aria-valuenow', String(Math.round(keyAt)));
    track.setAttribute('aria-valuetext', fmtTime(keyAt));
  });
  track.addEventListener('blur', () => { hover.hidden = true; });
  const range = h('span.muted.range');
  const summary = h('span.muted.small');

  const windowButtons = h('div.seg', WINDOWS.map(([label, ms]) => h('button', {
    type: 'button', class: ms === windowMs ? 'on' : '',
    onclick: (e) => {
      windowMs = ms;
      for (const b of windowButtons.children) b.classList.toggle('on', b === e.currentTarget);
      loadTimeline();
    },
  }, label)));

  const liveButton = h('button', { type: 'button', onclick: () => showLive() }, '● Live');
  // Overlay: zones, lines and masks always; tracked objects on live video (not stored for playback).
  let overlayOn = localStorage.getItem('vigil.overlay') === '1';
  const overlayButton = h('button.ghost', {
    type: 'button', 'aria-pressed': String(overlayOn),
    title: 'Draw the camera\'s zones, lines and masks, and on live video its tracked objects',
    onclick: () => {
      overlayOn = !overlayOn;
      localStorage.setItem('vigil.overlay', overlayOn ? '1' : '0');
      overlayButton.setAttribute('aria-pressed', String(overlayOn));
      syncOverlay();
    },
  }, '▭ Overlay');
  const replayButton = h('button.ghost', { type: 'button', onclick: () => replay(30e3), hidden: !may('playback') }, '↺ Last 30 s');

  // Export
  const exFrom = h('input', { type: 'datetime-local', step: 1, name: 'from', required: true });
  const exTo = h('input', { type: 'datetime-local', step: 1, name: 'to', required: true });
  const exProgress = h('progress', { max: 1, value: 0, hidden: true });
  const exStatus = h('span.small');
  const exButton = h('button', { type: 'submit' }, 'Export');
  // A signed evidence bundle (zip: the MP4, its manifest, the site's public key, the signature; check it
  // with `vigil verify DIR`), with the case and reason written into its manifest and the audit log.
  const exCase = h('input', { type: 'text', name: 'case', maxlength: 200, placeholder: 'Case', hidden: true });
  const exReason = h('input', { type: 'text', name: 'reason', maxlength: 200, placeholder: 'Reason', hidden: true });
  const exEvidence = h('input', { type: 'checkbox', name: 'evidence', onchange: () => {
    exCase.hidden = exReason.hidden = !exEvidence.checked;
  } });
  // Faces and licence plates blurred: always for users without `export_unredacted`, by choice for the others
  // (privacy masks are applied by the server either way).
  const mayUnredact = may('export_unredacted');
  const exRedact = h('input', { type: 'checkbox', name: 'redact', checked: !mayUnredact, disabled: !mayUnredact });
  // A sensitive camera's recordings need a second user's approval (dual authorization).
  const sensitiveNote = h('p.small.warn', { hidden: true },
    'Sensitive camera: playing or exporting its recordings needs a second user\'s approval. ',
    h('a', { href: '#/approvals' }, 'Ask for access'));
  sensitiveNote.hidden = !(cameras || []).some((c) => c.name === name && c.sensitive);
  // The evidence case the export is filed under (its chain of custody records it).
  const exCaseId = h('select', { name: 'case_id', 'aria-label': 'Case' }, h('option', { value: '' }, 'No case'));
  if (may('export')) {
    get('/api/cases').then(({ cases }) => {
      for (const c of cases) exCaseId.append(h('option', { value: String(c.id) }, c.title));
    }).catch(() => { /* no cases to offer */ });
  }
  const exportForm = h('form.export', { onsubmit: (e) => { e.preventDefault(); startExport(); } },
    h('label', 'From', exFrom), h('label', 'To', exTo),
    h('label.check', exEvidence, ' Signed evidence (zip)'), exCase, exReason,
    h('label.check', { title: mayUnredact ? '' : 'Your exports are always redacted' }, exRedact, ' Blur faces and plates'),
    exCaseId,
    exButton, exProgress, exStatus);

  const videoBox = h('div.video.large', liveVideo, playVideo,
    h('div.overlay.top', modeLabel, liveBadge, latency));
  const overlay = new Overlay(videoBox, liveVideo, name, player);
  const syncOverlay = () => overlay.set(overlayOn, liveVideo.hidden
    ? { video: playVideo, playback: clipStart === null ? null : { start: clipStart, end: clipEnd } }
    : { video: liveVideo });
  mount(
    h('div.page-head',
      h('h1', h('a.back', { href: '#/', 'aria-label': 'Back to all cameras' }, '‹'), ' ', name),
      h('div.actions', overlayButton, liveButton, replayButton)),
    h('div.camera-view', videoBox),
    h('section.card.timeline',
      h('div.timeline-head',
        h('button.ghost', { type: 'button', title: 'Earlier', onclick: () => shift(-1) }, '◀'),
        range,
        h('button.ghost', { type: 'button', title: 'Later', onclick: () => shift(1) }, '▶'),
        h('button.ghost', { type: 'button', onclick: () => { windowEnd = Date.now(); loadTimeline(); } }, 'Now'),
        windowButtons),
      track, ticks,
      h('div.legend', h('span.key.rec', 'recorded'), h('span.key.ev', 'event'), summary), sensitiveNote),
    may('export') ? h('section.card', h('h2', 'Export evidence'), exportForm) : null);

  player.start();
  syncOverlay();
  // PTZ controls below the video when the camera can be moved and the user may move it.
  const ptz = ptzPanel(name).then((p) => { if (p) videoBox.parentElement?.after(p.el); return p; });
  const timer = setInterval(() => {
    latency.textContent = player.latencyMs !== null && !player.stopped ? `${Math.max(0, Math.round(player.latencyMs))} ms` : '';
    updatePlayhead();
  }, 250);
  const refresh = setInterval(() => { if (Date.now() - windowEnd < 120e3) { windowEnd = Date.now(); loadTimeline(); } }, 30e3);
  playVideo.addEventListener('timeupdate', updatePlayhead);
  // Playback that reaches the present goes on live.
  playVideo.addEventListener('ended', () => {
    // The clip ended where the recording ended when it was asked for: the present.
    if (clipEnd !== null && clipAsked - clipEnd < 5e3) { toast('Caught up: live', 'info'); showLive(); }
  });
  // Events of this camera as they happen: marked on the timeline at once (the window follows the
  // present when it shows it).
  const unsubscribe = subscribe((e) => {
    if (e.camera !== name) return;
    if (Date.now() - windowEnd < 120e3) windowEnd = Date.now();
    const i = events.findIndex((x) => x.id === e.id);
    if (i >= 0) events[i] = e;
    else if (e.start >= from() && e.start <= windowEnd) events.unshift(e);
    drawTimeline();
  });

  await loadTimeline();
  const t = Number(routeQuery().get('t'));
  if (t > 0) {
    windowEnd = Math.min(Date.now(), t + windowMs / 2);
    await loadTimeline();
    playAt(t);
  }

  function from() { return windowEnd - windowMs; }
  function pct(t) { return ((t - from()) / windowMs) * 100; }
  function timeAt(e) {
    const r = track.getBoundingClientRect();
    return from() + ((e.clientX - r.left) / r.width) * windowMs;
  }

  function shift(dir) {
    windowEnd = Math.min(Date.now(), windowEnd + dir * windowMs * 0.75);
    loadTimeline();
  }

  async function loadTimeline() {
    const start = Math.round(from()), end = Math.round(windowEnd);
    range.textContent = `${fmtTime(start)} – ${fmtClock(end)}`;
    try {
      runs = await get(`/api/cameras/${cam(name)}/recordings${qs({ start, end })}`);
    } catch (e) {
      runs = [];
      summary.textContent = e.status === 403 ? 'You may not view recordings of this camera.' : e.message;
    }
    try {
      const ev = await get(`/api/events${qs({ camera: name, start, end, limit: 500 })}`);
      events = ev.events || [];
    } catch { events = []; }
    drawTimeline();
  }

  function drawTimeline() {
    track.setAttribute('aria-valuemin', String(Math.round(from())));
    track.setAttribute('aria-valuemax', String(Math.round(windowEnd)));
    for (const el of track.querySelectorAll('.run, .ev')) el.remove();
    let recorded = 0;
    for (const r of runs) {
      const a = Math.max(r.start, from()), b = Math.min(r.end, windowEnd);
      if (b <= a) continue;
      recorded += b - a;
      track.append(h('div.run', { style: { left: `${pct(a)}%`, width: `${Math.max(0.2, pct(b) - pct(a))}%` }, title: `${fmtTime(r.start)} – ${fmtTime(r.end)}` }));
    }
    for (const e of events) {
      track.append(h('div.ev', {
        dataset: { id: e.id },
        style: { left: `${pct(e.start)}%` }, title: `${fmtTime(e.start)} ${e.description || e.kind}`,
        onclick: (ev) => { ev.stopPropagation(); playAt(e.start - 3000); },
      }));
    }
    ticks.replaceChildren();
    const step = [60e3, 300e3, 900e3, 3600e3, 3 * 3600e3].find((s) => windowMs / s <= 8) || 3 * 3600e3;
    for (let t = Math.ceil(from() / step) * step; t <= windowEnd; t += step) {
      ticks.append(h('span', { style: { left: `${pct(t)}%` } }, fmtClock(t)));
    }
    const share = Math.round((recorded / windowMs) * 100);
    if (runs.length || !summary.textContent) summary.textContent = `${share}% of this window recorded · ${events.length} events`;
    updatePlayhead();
  }

  function pick(e) {
    if (!may('playback')) { toast('You may not watch recordings.', 'warn'); return; }
    playAt(timeAt(e));
  }

  function updatePlayhead() {
    if (clipStart === null || playVideo.hidden) { playhead.hidden = true; return; }
    const t = clipStart + playVideo.currentTime * 1000;
    playhead.hidden = t < from() || t > windowEnd;
    playhead.style.left = `${pct(t)}%`;
    modeLabel.textContent = `PLAYBACK ${fmtTime(t)}`;
  }

  function runAt(t) {
    return runs.find((r) => r.end > t && r.start <= t) || runs.find((r) => r.start > t);
  }

  async function playAt(t, tries = 0) {
    // The run holding t, or the next one after it. Footage of the last moments keeps arriving: ask the
    // server again rather than trusting the timeline loaded a while ago, and wait a little for it.
    let run = runAt(t);
    if ((!run || run.end < t + 2000) && Date.now() - t < 120e3) {
      windowEnd = Date.now();
      await loadTimeline();
      run = runAt(t);
      if (!run && tries < 5) { setTimeout(() => playAt(t, tries + 1), 1000); return; }
    }
    if (!run) { toast('Nothing recorded at or after that moment in this window.', 'warn'); return; }
    const start = Math.max(t, run.start);
    const end = Math.min(run.end, start + MAX_CLIP_MS);
    play(start, end);
  }

  async function replay(ms) {
    // The newest footage, as the server has it now.
    windowEnd = Date.now();
    await loadTimeline();
    const last = runs[runs.length - 1];
    if (!last) { toast('Nothing recorded yet.', 'warn'); return; }
    const end = last.end;
    play(Math.max(last.start, end - ms), end);
  }

  function play(start, end) {
    start = Math.round(start); end = Math.round(end);
    player.stop();
    liveVideo.hidden = true;
    playVideo.hidden = false;
    clipStart = start;
    clipEnd = end;
    clipAsked = Date.now();
    cursor = start;
    playVideo.src = `/api/cameras/${cam(name)}/playback.mp4${qs({ start, end })}`;
    playVideo.play().catch(() => {});
    liveBadge.textContent = '';
    liveBadge.className = 'badge';
    syncOverlay();
    exFrom.value = toLocalInput(start);
    exTo.value = toLocalInput(Math.min(end, start + 60e3));
    updatePlayhead();
  }

  function showLive() {
    playVideo.pause();
    playVideo.removeAttribute('src');
    playVideo.load();
    playVideo.hidden = true;
    liveVideo.hidden = false;
    clipStart = null;
    modeLabel.textContent = 'LIVE';
    player.start();
    syncOverlay();
    updatePlayhead();
  }

  async function startExport() {
    const start = fromLocalInput(exFrom.value), end = fromLocalInput(exTo.value);
    if (start === null || end === null || end <= start) { exStatus.textContent = 'Choose a start before the end.'; return; }
    exButton.disabled = true;
    exProgress.hidden = false;
    exProgress.value = 0;
    exStatus.textContent = 'Starting…';
    try {
      const evidence = exEvidence.checked;
      const body = { camera: name, start, end, redact: exRedact.checked };
      if (exCaseId.value) body.case_id = Number(exCaseId.value);
      if (evidence) {
        body.evidence = true;
        if (exCase.value.trim()) body.case = exCase.value.trim();
        if (exReason.value.trim()) body.reason = exReason.value.trim();
      }
      const { id } = await post('/api/exports', body);
      for (;;) {
        const s = await get(`/api/exports/${encodeURIComponent(id)}`);
        exProgress.value = s.progress || 0;
        if (s.state === 'done') {
          exStatus.replaceChildren(`Ready (${fmtBytes(s.bytes)}) · `,
            h('a', { href: `/api/exports/${encodeURIComponent(id)}/file`, download: `${evidence ? 'evidence-' : ''}${name}-${fmtTime(start).replace(/[: ]/g, '-')}.${evidence ? 'zip' : 'mp4'}` }, 'Download'));
          break;
        }
        if (s.state === 'failed') { exStatus.textContent = `Failed: ${s.error || 'unknown error'}`; break; }
        exStatus.textContent = `${Math.round((s.progress || 0) * 100)}% · ${fmtBytes(s.bytes)}`;
        await new Promise((r) => setTimeout(r, 500));
      }
    } catch (e) {
      exStatus.textContent = e.message;
      exProgress.hidden = true;
    } finally {
      exButton.disabled = false;
    }
  }

  if (cursor === null) {
    exFrom.value = toLocalInput(Date.now() - 60e3);
    exTo.value = toLocalInput(Date.now());
  }

  return () => {
    clearInterval(timer);
    clearInterval(refresh);
    unsubscribe();
    overlay.destroy();
    ptz.then((p) => p && p.destroy());
    player.stop();
    playVideo.removeAttribute('src');
    playVideo.load();
  };
}
