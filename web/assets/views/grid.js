// Camera grid: every camera the user may see, live, or one camera group in its saved order and layout.
// Players run only while their tile is on screen and the page is visible, so a long list costs nothing
// off-screen. The wall display (kiosk) view reuses the same tiles (liveGrid).

import { get, cam } from '../api.js';
import { LivePlayer } from '../live.js';
import { subscribe, inProgress } from '../alerts.js';
import { h, mount, heading } from '../util.js';

/**
 * Live tiles of `cameras` (objects with name, recording, analysing) in a grid of `layout` ('auto' or
 * tiles per row); `links` makes each tile open its camera page. Returns { grid, stop }.
 */
export function liveGrid(cameras, layout, { links = true, events = true } = {}) {
  const players = [];
  const grid = h('div.grid');
  grid.dataset.layout = layout;

  for (const c of cameras) {
    const video = h('video', { muted: true, playsinline: true, dataset: { camera: c.name } });
    const state = h('span.badge', 'connecting');
    const latency = h('span.badge.latency');
    // Camera health states on now (covered, moved, offline…), from camera_health events.
    const health = h('span.badge.health');
    const player = new LivePlayer(video, c.name, {
      onState: (s, detail) => {
        state.textContent = detail ? `${s}: ${detail}` : s;
        state.className = `badge ${s}`;
      },
    });
    players.push(player);
    const tile = h('article.tile', { dataset: { camera: c.name } },
      h('div.video', video,
        h('div.overlay.top', h('span.name', c.name), state),
        h('div.overlay.bottom',
          c.recording ? h('span.badge.rec', 'REC') : null,
          c.analysing ? h('span.badge', 'AI') : null,
          health, latency)),
      links ? h('a.cover', { href: `#/camera/${cam(c.name)}`, 'aria-label': `Open ${c.name}` }) : null);
    grid.append(tile);
    player.tile = tile;
    player.latencyEl = latency;
  }

  // A tile is highlighted while an event of its camera is in progress.
  const tiles = new Map(players.map((p) => [p.tile.dataset.camera, p.tile]));
  const live = new Map(); // camera -> ids of its events in progress
  const health = new Map(); // camera -> Map(event id -> health state) in progress
  const mark = (e) => {
    // A switch to IR (night) mode is information: no health badge, no highlight all night.
    if (e.kind === 'camera_health' && e.facts && e.facts.state === 'ir_mode') return;
    if (e.kind === 'camera_health') {
      const states = health.get(e.camera) || new Map();
      if (e.end || e.phase === 'end') states.delete(e.id); else states.set(e.id, (e.facts && e.facts.state) || 'problem');
      health.set(e.camera, states);
      const badge = tiles.get(e.camera)?.querySelector('.badge.health');
      if (badge) {
        badge.textContent = [...new Set(states.values())].map((s) => s.replace('_', ' ')).join(', ');
        badge.title = states.size ? e.description || '' : '';
      }
    }
    const ids = live.get(e.camera) || new Set();
    if (e.end || e.phase === 'end') ids.delete(e.id); else ids.add(e.id);
    live.set(e.camera, ids);
    const tile = tiles.get(e.camera);
    if (tile) {
      tile.classList.toggle('alert', ids.size > 0);
      tile.title = ids.size ? `${ids.size} event${ids.size === 1 ? '' : 's'} in progress: ${e.description || e.kind}` : '';
    }
  };
  let unsubscribe = () => {};
  if (events) {
    for (const e of inProgress()) mark(e);
    unsubscribe = subscribe(mark);
  }

  const visible = new Set();
  const sync = () => {
    for (const p of players) {
      if (visible.has(p.tile) && !document.hidden) p.start(); else p.stop();
    }
  };
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) { if (e.isIntersecting) visible.add(e.target); else visible.delete(e.target); }
    sync();
  }, { threshold: 0.05 });
  for (const p of players) observer.observe(p.tile);
  document.addEventListener('visibilitychange', sync);
  const timer = setInterval(() => {
    for (const p of players) {
      p.latencyEl.textContent = p.latencyMs !== null && !p.stopped ? `${Math.max(0, Math.round(p.latencyMs))} ms` : '';
    }
  }, 1000);

  const stop = () => {
    unsubscribe();
    clearInterval(timer);
    observer.disconnect();
    document.removeEventListener('visibilitychange', sync);
    for (const p of players) p.stop();
  };
  return { grid, stop };
}

/** A group's layout as the grid names it: 'auto' (fit to screen) or tiles per row. */
export function groupLayout(g) { return g.columns ? String(g.columns) : 'auto'; }

export async function render(ctx) {
  const [cameras, groups] = await Promise.all([get('/api/cameras'), get('/api/groups').catch(() => [])]);
  const groupId = localStorage.getItem('vigil.group') || '';
  const group = groups.find((g) => String(g.id) === groupId) || null;
  // A group shows its cameras in its saved order and layout; "All cameras" the user's own choice.
  const shown = group
    ? group.cameras.map((n) => cameras.find((c) => c.name === n)).filter(Boolean)
    : cameras;
  const layout = group ? groupLayout(group) : localStorage.getItem('vigil.grid') || 'auto';
  const { grid, stop } = liveGrid(shown, layout);

  const layouts = ['auto', '1', '2', '3', '4'];
  const chooser = h('div.seg', layouts.map((l) => h('button', {
    type: 'button', class: l === layout ? 'on' : '', title: l === 'auto' ? 'Fit to screen' : `${l} per row`,
    onclick: (e) => {
      grid.dataset.layout = l;
      if (!group) localStorage.setItem('vigil.grid', l);
      for (const b of chooser.children) b.classList.toggle('on', b === e.currentTarget);
    },
  }, l === 'auto' ? 'Auto' : `${l}×`)));
  const picker = groups.length ? h('select', {
    'aria-label': 'Camera group',
    onchange: (e) => {
      localStorage.setItem('vigil.group', e.target.value);
      ctx.go('/');
    },
  }, h('option', { value: '' }, 'All cameras'),
  groups.map((g) => h('option', { value: String(g.id), selected: g === group }, g.name))) : null;

  mount(heading(group ? `Live · ${group.name}` : 'Live', picker, chooser),
    shown.length ? grid : h('p.muted.pad', 'No cameras are configured, or none is visible to you.'));
  return stop;
}
