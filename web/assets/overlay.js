// Overlays over a camera's video: its zones, lines (with the side counted as "in") and masks, and, live,
// the tracked objects of each analysed frame with their track ids. The server sends the geometry first
// and then each analysed frame stamped with the time it reached Vigil (GET /api/cameras/{camera}/overlay);
// the boxes drawn are those of the frame on screen now: the newest stamped at or before "now minus the
// player's delay", so they stay on the objects instead of running ahead of the picture.

import { cam } from './api.js';

const KEEP_MS = 4000;     // analysed frames kept for matching to the picture
const STALE_MS = 1200;    // a frame older than this next to the picture is drawn as late
const ALIVE_MS = 2500;    // the analysis is taken as stopped (nothing drawn) when no frame came for this long
const COLOURS = { person: '#4fc3f7', car: '#ffb74d', truck: '#ffb74d', bus: '#ffb74d', motorcycle: '#ffb74d', bicycle: '#aed581' };

/** The picture's rectangle inside a <video> (object-fit: contain), in CSS pixels of its parent. */
export function videoRect(v) {
  const w = v.clientWidth, h = v.clientHeight;
  const vw = v.videoWidth || 16, vh = v.videoHeight || 9;
  const s = Math.min(w / vw, h / vh);
  return { x: v.offsetLeft + (w - vw * s) / 2, y: v.offsetTop + (h - vh * s) / 2, w: vw * s, h: vh * s };
}

/** Draws over `video` (inside the positioned `container`); `player` gives the live delay (latencyMs). */
export class Overlay {
  constructor(container, video, camera, player) {
    this.video = video;
    this.camera = camera;
    this.player = player;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'overlay-canvas';
    this.canvas.setAttribute('aria-hidden', 'true');
    container.append(this.canvas);
    this.geometry = { zones: [], lines: [], masks: [] };
    this.frames = [];
    this.enabled = false;
    this.drawn = 0; // frames of boxes drawn
    this.raf = null;
  }

  /** Shows or hides the overlay over `video`; with `playback` ({start, end} of the clip, unix ms) the
   *  boxes come from the stored tracks of that range instead of the live analysis. */
  set(enabled, { video = this.video, playback = null } = {}) {
    this.enabled = enabled;
    this.video = video;
    this.canvas.hidden = !enabled;
    const key = playback ? `${playback.start}-${playback.end}` : null;
    if (enabled && key && key !== this.clipKey) this.loadTracks(playback);
    this.clipKey = key;
    this.playback = playback;
    if (enabled && !this.ws) this.connect();
    if (!enabled) this.close();
    if (enabled && this.raf === null) this.loop();
  }

  /** The stored tracks of a played clip (GET /api/cameras/{camera}/tracks), at most 10 minutes of it. */
  async loadTracks({ start, end }) {
    this.tracks = [];
    try {
      const r = await fetch(`/api/cameras/${cam(this.camera)}/tracks?start=${start}&end=${Math.min(end, start + 600000)}`, { credentials: 'same-origin' });
      if (r.ok) this.tracks = (await r.json()).paths || [];
    } catch { /* no boxes over this clip */ }
  }

  /** The boxes at `t` (unix ms) of the played clip: each track's stored box, between its two samples. */
  playbackObjects(t) {
    const out = [];
    for (const p of this.tracks || []) {
      const pts = p.points;
      if (!pts.length || t < pts[0].ms || t > pts[pts.length - 1].ms) continue;
      let i = pts.findIndex((q) => q.ms >= t);
      if (i < 0) continue;
      const b = pts[i], a = pts[Math.max(0, i - 1)];
      if (b.ms - a.ms > 1500) continue; // a gap: the object was not followed then
      const k = b.ms === a.ms ? 0 : (t - a.ms) / (b.ms - a.ms);
      const lerp = (u, v) => u + (v - u) * k;
      const x = lerp(a.x, b.x), y = lerp(a.y, b.y), w = lerp(a.w, b.w), hh = lerp(a.h, b.h);
      out.push({ track: p.track, class: p.class, score: null, bbox: [x - w / 2, y - hh, x + w / 2, y], matched: true });
    }
    return out;
  }

  connect() {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${proto}://${location.host}/api/cameras/${cam(this.camera)}/overlay`);
    this.ws = ws;
    ws.onmessage = (m) => {
      let v;
      try { v = JSON.parse(m.data); } catch { return; }
      if (v.geometry) { this.geometry = v.geometry; return; }
      if (typeof v.t !== 'number') return;
      v.arrived = Date.now();
      this.frames.push(v);
      const cut = v.t - KEEP_MS;
      while (this.frames.length && this.frames[0].t < cut) this.frames.shift();
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      // Reconnect while shown (a server restart, a network blip); access ended stays closed.
      if (this.enabled) this.retry = setTimeout(() => { if (this.enabled && !this.ws) this.connect(); }, 3000);
    };
  }

  close() {
    clearTimeout(this.retry);
    if (this.ws) { const ws = this.ws; this.ws = null; ws.onclose = null; try { ws.close(); } catch { /* gone */ } }
    this.frames = [];
    if (this.raf !== null) cancelAnimationFrame(this.raf);
    this.raf = null;
  }

  /** Stops for good (the page goes away). */
  destroy() { this.enabled = false; this.close(); this.canvas.remove(); }

  loop() {
    this.raf = requestAnimationFrame(() => { this.draw(); if (this.enabled) this.loop(); else this.raf = null; });
  }

  /** The picture's rectangle inside the element (object-fit: contain), in CSS pixels. */
  rect() { return videoRect(this.video); }

  /** The analysed frame showing now, with how far the analysis is behind the picture (ms; 0 when in
   *  step): when it runs late (a busy box skips frames), its newest frame is drawn, marked late. */
  current() {
    const lag = this.player && this.player.latencyMs;
    if (lag === null || lag === undefined) return null;
    const t = Date.now() - lag;
    let best = null;
    for (const f of this.frames) { if (f.t <= t + 40) best = f; else break; }
    if (best && t - best.t < STALE_MS) return { frame: best, behind: 0 };
    // The analysis is late (however late, as long as it is alive: its newest frame came in lately).
    const newest = this.frames[this.frames.length - 1];
    return newest && Date.now() - newest.arrived < ALIVE_MS ? { frame: newest, behind: Math.max(0, t - newest.t) } : null;
  }

  draw() {
    const c = this.canvas;
    const parent = c.parentElement;
    if (!parent) return;
    const dpr = window.devicePixelRatio || 1;
    const W = parent.clientWidth, H = parent.clientHeight;
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) {
      c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
      c.style.width = `${W}px`; c.style.height = `${H}px`;
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    if (!this.enabled || this.video.hidden) return;
    c.dataset.frames = String(this.frames.length); // analysed frames held (for diagnosis)
    const r = this.rect();
    const px = ([x, y]) => [r.x + x * r.w, r.y + y * r.h];
    const poly = (points) => {
      g.beginPath();
      points.forEach((p, i) => { const [x, y] = px(p); if (i) g.lineTo(x, y); else g.moveTo(x, y); });
      g.closePath();
    };
    g.lineWidth = 2;
    g.font = '12px system-ui, sans-serif';
    for (const m of this.geometry.masks || []) {
      if (!m.points.length) continue;
      poly(m.points);
      g.fillStyle = m.kind === 'privacy' ? 'rgba(0,0,0,0.55)' : 'rgba(160,160,160,0.18)';
      g.fill();
      g.setLineDash([6, 4]); g.strokeStyle = 'rgba(200,200,200,0.8)'; g.stroke(); g.setLineDash([]);
    }
    for (const z of this.geometry.zones || []) {
      if (!z.points.length) continue;
      poly(z.points);
      g.fillStyle = 'rgba(255,213,79,0.12)'; g.fill();
      g.strokeStyle = 'rgba(255,213,79,0.9)'; g.stroke();
      const [x, y] = px(z.points[0]);
      label(g, z.name, x + 4, y + 14, 'rgba(255,213,79,0.9)');
    }
    for (const l of this.geometry.lines || []) {
      const [x1, y1] = px(l.p1), [x2, y2] = px(l.p2);
      g.strokeStyle = '#ef5350';
      g.beginPath(); g.moveTo(x1, y1); g.lineTo(x2, y2); g.stroke();
      // Side B is on the right of p1 -> p2 as drawn; the arrow points the way "in" goes.
      const dx = x2 - x1, dy = y2 - y1, len = Math.hypot(dx, dy) || 1;
      const sign = l.inbound === 'b_to_a' ? -1 : 1;
      const nx = (-dy / len) * sign, ny = (dx / len) * sign;
      const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
      const ax = mx + nx * 22, ay = my + ny * 22;
      g.beginPath(); g.moveTo(mx - nx * 10, my - ny * 10); g.lineTo(ax, ay); g.stroke();
      g.beginPath();
      g.moveTo(ax, ay);
      g.lineTo(ax - nx * 8 + ny * 5, ay - ny * 8 - nx * 5);
      g.lineTo(ax - nx * 8 - ny * 5, ay - ny * 8 + nx * 5);
      g.closePath(); g.fillStyle = '#ef5350'; g.fill();
      label(g, `${l.name} (in)`, ax + 4, ay, '#ef5350');
    }
    let now;
    if (this.playback) {
      const t = this.playback.start + this.video.currentTime * 1000;
      now = { frame: { objects: this.playbackObjects(t) }, behind: 0 };
    } else {
      now = this.current();
    }
    if (!now) return;
    const f = now.frame;
    this.drawn += 1;
    c.dataset.objects = String(f.objects.length);
    c.dataset.mode = this.playback ? 'playback' : 'live';
    if (now.behind) label(g, `analysis ${(now.behind / 1000).toFixed(1)} s behind`, r.x + 6, r.y + r.h - 8, '#ffb74d');
    for (const o of f.objects) {
      const [x1, y1] = px([o.bbox[0], o.bbox[1]]), [x2, y2] = px([o.bbox[2], o.bbox[3]]);
      const colour = COLOURS[o.class] || '#ce93d8';
      g.strokeStyle = colour;
      g.setLineDash(o.matched && !now.behind ? [] : [4, 3]);
      g.strokeRect(x1, y1, x2 - x1, y2 - y1);
      g.setLineDash([]);
      label(g, `${o.class} #${o.track}${o.score === null ? '' : ` ${Math.round(o.score * 100)}%`}`, x1, y1 - 3, colour);
    }
  }
}

function label(g, text, x, y, colour) {
  const w = g.measureText(text).width + 6;
  g.fillStyle = 'rgba(0,0,0,0.6)';
  g.fillRect(x, y - 13, w, 16);
  g.fillStyle = colour;
  g.fillText(text, x + 3, y);
}
