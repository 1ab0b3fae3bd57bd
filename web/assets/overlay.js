// Overlays over a camera's video: its zones, lines (with the side counted as "in") and masks, and, live,
// the tracked objects of each analysed frame with their track ids. The server sends the geometry first
// and then each analysed frame stamped with the time it reached Vigil (GET /api/cameras/{camera}/overlay);
// the boxes drawn are those of the frame on screen now: the newest stamped at or before "now minus the
// player's delay", so they stay on the objects instead of running ahead of the picture.

import { cam } from './api.js';

const KEEP_MS = 4000;     // analysed frames kept for matching to the picture
const STALE_MS = 1200;    // a frame older than this next to the picture is not drawn (objects gone)
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
    this.boxes = true;
    this.drawn = 0; // frames of boxes drawn
    this.raf = null;
  }

  /** Shows or hides the overlay; `boxes` false draws the geometry alone (playback). */
  set(enabled, { boxes = true, video = this.video } = {}) {
    this.enabled = enabled;
    this.boxes = boxes;
    this.video = video;
    this.canvas.hidden = !enabled;
    if (enabled && !this.ws) this.connect();
    if (!enabled) this.close();
    if (enabled && this.raf === null) this.loop();
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
    const newest = this.frames[this.frames.length - 1];
    return newest && t - newest.t < KEEP_MS ? { frame: newest, behind: t - newest.t } : null;
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
    if (!this.boxes) return;
    const now = this.current();
    if (!now) return;
    const f = now.frame;
    this.drawn += 1;
    c.dataset.objects = String(f.objects.length);
    if (now.behind) label(g, `analysis ${(now.behind / 1000).toFixed(1)} s behind`, r.x + 6, r.y + r.h - 8, '#ffb74d');
    for (const o of f.objects) {
      const [x1, y1] = px([o.bbox[0], o.bbox[1]]), [x2, y2] = px([o.bbox[2], o.bbox[3]]);
      const colour = COLOURS[o.class] || '#ce93d8';
      g.strokeStyle = colour;
      g.setLineDash(o.matched && !now.behind ? [] : [4, 3]);
      g.strokeRect(x1, y1, x2 - x1, y2 - y1);
      g.setLineDash([]);
      label(g, `${o.class} #${o.track} ${Math.round(o.score * 100)}%`, x1, y1 - 3, colour);
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
