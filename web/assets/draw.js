// Drawing zones, lines (with the side counted as "in") and masks over a camera's live picture, in
// coordinates normalised to the picture (0..1), as vigil.toml keeps them. Click to add points; a zone or
// mask is finished with "Finish shape" (or Enter, or a double click) once it has three points; a line is
// done at its second point.

import { videoRect } from './overlay.js';
import { h } from './util.js';

const COLOUR = { zone: 'rgba(255,213,79,0.95)', line: '#ef5350', privacy: 'rgba(200,200,200,0.95)', ignore: 'rgba(160,160,160,0.95)' };

/** An editor over `video` inside the positioned `container`; `geometry` as the file has it. */
export class GeometryEditor {
  constructor(container, video, geometry, onChange = () => {}) {
    this.video = video;
    this.onChange = onChange;
    this.items = [
      ...geometry.zones.map((z) => ({ type: 'zone', name: z.name, points: z.points })),
      ...geometry.lines.map((l) => ({ type: 'line', name: l.name, points: [l.p1, l.p2], inbound: l.inbound || 'a_to_b' })),
      ...geometry.masks.map((m) => ({ type: m.kind === 'ignore' ? 'ignore' : 'privacy', name: m.name, points: m.points })),
    ];
    this.tool = 'zone';
    this.draft = [];
    this.canvas = h('canvas.draw-canvas', { tabindex: 0, 'aria-label': 'Drawing area: click to add points; Enter finishes a zone or mask, Escape drops it' });
    container.append(this.canvas);
    this.canvas.addEventListener('click', (e) => this.click(e));
    this.canvas.addEventListener('dblclick', (e) => { e.preventDefault(); this.finish(); });
    this.canvas.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); this.finish(); }
      if (e.key === 'Escape') { this.draft = []; this.draw(); }
    });
    this.timer = setInterval(() => this.draw(), 200);
  }

  destroy() { clearInterval(this.timer); this.canvas.remove(); }

  /** What to draw next: `zone`, `line`, `privacy` or `ignore`. */
  setTool(tool) { this.tool = tool; this.draft = []; this.draw(); }

  /** A name not used yet, from `base`. */
  freshName(base) {
    let n = 1;
    while (this.items.some((i) => i.name === `${base} ${n}`)) n += 1;
    return `${base} ${n}`;
  }

  click(e) {
    const r = videoRect(this.video);
    const box = this.canvas.getBoundingClientRect();
    const x = (e.clientX - box.left - r.x) / r.w, y = (e.clientY - box.top - r.y) / r.h;
    if (x < 0 || y < 0 || x > 1 || y > 1) return;
    this.draft.push([Math.round(x * 10000) / 10000, Math.round(y * 10000) / 10000]);
    if (this.tool === 'line' && this.draft.length === 2) {
      this.items.push({ type: 'line', name: this.pendingName || this.freshName('Line'), points: this.draft, inbound: 'a_to_b' });
      this.draft = [];
      this.pendingName = null;
      this.onChange();
    }
    this.draw();
  }

  /** Closes the zone or mask being drawn (three points at least). */
  finish() {
    if (this.tool === 'line' || this.draft.length < 3) return false;
    const base = { zone: 'Zone', privacy: 'Privacy mask', ignore: 'Ignore mask' }[this.tool];
    this.items.push({ type: this.tool, name: this.pendingName || this.freshName(base), points: this.draft });
    this.draft = [];
    this.pendingName = null;
    this.onChange();
    this.draw();
    return true;
  }

  /** The drawing as `/api/config/edit` takes it. */
  geometry() {
    return {
      zones: this.items.filter((i) => i.type === 'zone').map((i) => ({ name: i.name, points: i.points })),
      lines: this.items.filter((i) => i.type === 'line').map((i) => ({ name: i.name, p1: i.points[0], p2: i.points[1], inbound: i.inbound })),
      masks: this.items.filter((i) => i.type === 'privacy' || i.type === 'ignore').map((i) => ({ name: i.name, kind: i.type, points: i.points })),
    };
  }

  draw() {
    const c = this.canvas, parent = c.parentElement;
    if (!parent) return;
    const W = parent.clientWidth, H = parent.clientHeight, dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) {
      c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
      c.style.width = `${W}px`; c.style.height = `${H}px`;
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    const r = videoRect(this.video);
    const px = ([x, y]) => [r.x + x * r.w, r.y + y * r.h];
    g.lineWidth = 2;
    g.font = '13px system-ui, sans-serif';
    const shape = (points, closed, colour, fill) => {
      g.beginPath();
      points.forEach((p, i) => { const [x, y] = px(p); if (i) g.lineTo(x, y); else g.moveTo(x, y); });
      if (closed) g.closePath();
      if (fill) { g.fillStyle = fill; g.fill(); }
      g.strokeStyle = colour; g.stroke();
      for (const p of points) { const [x, y] = px(p); g.fillStyle = colour; g.fillRect(x - 3, y - 3, 6, 6); }
    };
    for (const i of this.items) {
      const colour = COLOUR[i.type];
      if (i.type === 'line') {
        shape(i.points, false, colour);
        const [x1, y1] = px(i.points[0]), [x2, y2] = px(i.points[1]);
        const dx = x2 - x1, dy = y2 - y1, len = Math.hypot(dx, dy) || 1, sign = i.inbound === 'b_to_a' ? -1 : 1;
        const nx = (-dy / len) * sign, ny = (dx / len) * sign, mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
        g.beginPath(); g.moveTo(mx, my); g.lineTo(mx + nx * 26, my + ny * 26); g.stroke();
        g.fillStyle = colour; g.fillText(`${i.name} (in →)`, mx + nx * 30, my + ny * 30);
      } else {
        shape(i.points, true, colour, i.type === 'privacy' ? 'rgba(0,0,0,0.5)' : 'rgba(255,213,79,0.12)');
        const [x, y] = px(i.points[0]);
        g.fillStyle = colour; g.fillText(i.name, x + 5, y + 15);
      }
    }
    if (this.draft.length) shape(this.draft, false, '#4ea1ff');
  }
}
