// Dashboards (analytics permission: admins, operators, analysts): KPI tiles against the previous period,
// footfall bars, occupancy and queue lines, the dwell histogram, a heatmap, CSV downloads and the stored
// reports. Charts are plain SVG drawn here (no charting library). Analysts never see a picture: their
// heatmap lies over a blank grid, not the camera's thumbnail.

import { get, qs } from '../api.js';
import { h, mount, heading, toLocalInput, fromLocalInput, fmtTime } from '../util.js';
import { may } from '../app.js';

const NS = 'http://www.w3.org/2000/svg';
const COLOURS = ['#2a7ae2', '#e2892a', '#3a9a5a', '#8a4ad2', '#d2444a', '#2ab0b0'];

/** An SVG element with attributes. */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

const W = 720, H = 200, PAD = 28;

function frame(name, max) {
  const svg = s('svg', { viewBox: `0 0 ${W} ${H + 34}`, class: 'chart', role: 'img', 'data-chart': name });
  svg.append(s('line', { x1: PAD, y1: H, x2: W, y2: H, stroke: '#999' }));
  const t = s('text', { x: 0, y: 12, 'font-size': 11, fill: 'currentColor' });
  t.textContent = `${Math.round(max * 10) / 10}`;
  svg.append(t);
  return svg;
}

function axis(svg, labels) {
  if (!labels.length) return;
  const step = Math.max(1, Math.ceil(labels.length / 8));
  const slot = (W - PAD) / labels.length;
  labels.forEach((l, i) => {
    if (i % step) return;
    const t = s('text', { x: PAD + i * slot + 2, y: H + 14, 'font-size': 10, fill: 'currentColor' });
    t.textContent = /^\d{4}-/.test(l) ? l.slice(5) : l;
    svg.append(t);
  });
}

function legend(series) {
  return h('div.legend.small', series.map((x, i) => h('span.legend-item', { dataset: { colour: i } },
    h('b', { style: { color: x.colour || COLOURS[i % COLOURS.length] } }, '■ '), x.name)));
}

/** Grouped bars: series [{name, values}]. */
export function bars(name, labels, series) {
  const max = Math.max(0, ...series.flatMap((x) => x.values.map((v) => v || 0)));
  const svg = frame(name, max);
  if (max <= 0) { svg.append(noData()); return h('div.chart-box', svg); }
  const slot = (W - PAD) / Math.max(1, labels.length);
  const bw = (slot * 0.8) / series.length;
  series.forEach((x, si) => x.values.forEach((v, i) => {
    const bh = ((v || 0) / max) * (H - 16);
    if (bh <= 0) return;
    const r = s('rect', { x: PAD + i * slot + slot * 0.1 + si * bw, y: H - bh, width: Math.max(bw, 1), height: bh,
      fill: x.colour || COLOURS[si % COLOURS.length], 'data-value': v });
    const tip = s('title'); tip.textContent = `${labels[i]} ${x.name}: ${v}`; r.append(tip);
    svg.append(r);
  }));
  axis(svg, labels);
  return h('div.chart-box', svg, legend(series));
}

/** Lines: series [{name, values}] (null values are gaps). */
export function lines(name, labels, series) {
  const max = Math.max(0, ...series.flatMap((x) => x.values.map((v) => v || 0)));
  const svg = frame(name, max);
  if (max <= 0) { svg.append(noData()); return h('div.chart-box', svg); }
  const slot = (W - PAD) / Math.max(1, labels.length);
  series.forEach((x, si) => {
    let d = '';
    x.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const px = PAD + i * slot + slot / 2, py = H - (v / max) * (H - 16);
      d += `${d ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`;
      svg.append(s('circle', { cx: px, cy: py, r: 2.5, fill: COLOURS[si % COLOURS.length], 'data-value': v }));
    });
    if (d) svg.prepend(s('path', { d, fill: 'none', stroke: COLOURS[si % COLOURS.length], 'stroke-width': 2 }));
  });
  axis(svg, labels);
  return h('div.chart-box', svg, legend(series));
}

function noData() {
  const t = s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', fill: 'currentColor', class: 'no-data' });
  t.textContent = 'no data in this range';
  return t;
}

function startOfDay(d) { const x = new Date(d); x.setHours(0, 0, 0, 0); return x.getTime(); }

/** The range [from, to) of a preset. */
function rangeOf(preset, customFrom, customTo) {
  const now = Date.now();
  const today = startOfDay(now);
  if (preset === 'today') return { from: today, to: now, bucket: 'hour' };
  if (preset === 'yesterday') return { from: startOfDay(today - 12 * 3600e3), to: today, bucket: 'hour' };
  if (preset === '7d') return { from: startOfDay(today - 6 * 86400e3), to: now, bucket: 'day' };
  return { from: fromLocalInput(customFrom) ?? now - 86400e3, to: fromLocalInput(customTo) ?? now };
}

function kpiTile(k) {
  const value = k.value === null || k.value === undefined ? '—' : `${k.value}${k.unit ? ` ${k.unit}` : ''}`;
  let change = 'no previous data';
  if (k.change_pct !== null && k.change_pct !== undefined) change = `${k.change_pct > 0 ? '+' : ''}${k.change_pct}% vs previous`;
  else if (k.previous !== null && k.previous !== undefined) change = `previous ${k.previous}`;
  const cls = k.change_pct > 0 ? 'up' : k.change_pct < 0 ? 'down' : '';
  return h('div.card.kpi', { dataset: { kpi: k.key } }, h('div.small.muted', k.label), h('div.kpi-value', value),
    h('div.small', { class: `kpi-change ${cls}` }, change));
}

export async function render() {
  const cameras = await get('/api/cameras').catch(() => []);
  const preset = h('select#dash-range', ['today', 'yesterday', '7d', 'custom'].map((v) =>
    h('option', { value: v }, { today: 'Today', yesterday: 'Yesterday', '7d': 'Last 7 days', custom: 'Custom' }[v])));
  const from = h('input#dash-from', { type: 'datetime-local', value: toLocalInput(Date.now() - 86400e3), hidden: true });
  const to = h('input#dash-to', { type: 'datetime-local', value: toLocalInput(Date.now()), hidden: true });
  const camera = h('select#dash-camera', h('option', { value: '' }, 'All cameras'),
    cameras.map((c) => h('option', { value: c.name }, c.name)));
  const heatKind = h('select#dash-heat-kind', h('option', { value: 'presence' }, 'Presence (time spent)'),
    h('option', { value: 'paths' }, 'Paths (tracks passing)'));
  const body = h('div.dash-body');
  const status = h('p.muted.small#dash-status');
  preset.addEventListener('change', () => { from.hidden = to.hidden = preset.value !== 'custom'; load(); });
  for (const el of [from, to, camera, heatKind]) el.addEventListener('change', load);
  mount(heading('Dashboards'),
    h('div.card.pad.row.wrap', h('label', 'Range ', preset), from, to, h('label', 'Camera ', camera),
      h('label', 'Heatmap ', heatKind)),
    status, body);
  await load();

  async function load() {
    const r = rangeOf(preset.value, from.value, to.value);
    const base = { camera: camera.value || undefined, from: Math.round(r.from), to: Math.round(r.to), bucket: r.bucket };
    status.textContent = `Loading ${fmtTime(r.from)} – ${fmtTime(r.to)}…`;
    const csv = (what) => h('a.button.ghost.small', { href: `/api/analytics/${what}${qs({ ...base, format: 'csv' })}`,
      download: `${what}.csv`, dataset: { csv: what } }, `${what} CSV`);
    try {
      const [k, ff, occ, dw, qu, reports] = await Promise.all([
        get(`/api/analytics/kpis${qs(base)}`),
        get(`/api/analytics/footfall${qs({ ...base, compare: 'previous' })}`),
        get(`/api/analytics/occupancy${qs(base)}`),
        get(`/api/analytics/dwell${qs(base)}`),
        get(`/api/analytics/queues${qs(base)}`),
        get('/api/reports').catch(() => []),
      ]);
      const labels = ff.current.buckets.map((b) => b.label);
      // the previous period bucket by bucket (its k-th bucket beside this period's k-th)
      const prevIn = ff.previous ? ff.previous.in : [];
      const zones = occ.current.zones.filter((z) => z.zone !== '(view)');
      const shown = (zones.length ? zones : occ.current.zones).slice(0, 6);
      const dz = dw.current.zones.filter((z) => z.zone !== '(view)');
      const dwellZones = (dz.length ? dz : dw.current.zones).slice(0, 6);
      const heatCam = camera.value || (cameras[0] && cameras[0].name);
      body.replaceChildren(
        h('div.kpis.row.wrap', k.kpis.map(kpiTile)),
        h('div.card.pad', h('h2', 'Footfall in / out'), bars('footfall', labels, [
          { name: 'in', values: ff.current.in }, { name: 'out', values: ff.current.out },
          { name: 'in, previous period', values: prevIn, colour: '#b8c8e8' }]), csv('footfall')),
        h('div.card.pad', h('h2', 'Occupancy (most objects at once)'), lines('occupancy', labels,
          shown.map((z) => ({ name: `${z.camera} / ${z.zone}`, values: z.max }))), csv('occupancy')),
        h('div.card.pad', h('h2', 'Dwell time per visit'), bars('dwell', dw.current.bins,
          dwellZones.map((z) => ({ name: `${z.camera} / ${z.zone} (median ${z.median_s ?? '—'} s)`, values: z.histogram }))), csv('dwell')),
        h('div.card.pad', h('h2', 'Queues (mean wait, s)'), qu.current.queues.length
          ? lines('queues', labels, qu.current.queues.map((q) => ({ name: `${q.camera} / ${q.zone}`, values: q.mean_wait_s })))
          : h('p.muted', { dataset: { chart: 'queues' } }, 'No queue events in this range.'), csv('queues')),
        heatCam ? heatmapCard(heatCam, base, heatKind.value) : null,
        reportsCard(reports));
      status.textContent = `${fmtTime(r.from)} – ${fmtTime(r.to)} · buckets in the site's time zone`;
    } catch (e) {
      status.textContent = e.message;
    }
  }
}

function heatmapCard(cam, base, kind) {
  const params = { ...base, camera: cam, kind, bucket: undefined };
  const overlay = h('img.heat-overlay', { alt: `${kind} heatmap of ${cam}`, src: `/api/analytics/heatmap${qs({ ...params, format: 'png' })}` });
  const blank = () => h('div.heat-bg.blank');
  const under = blank();
  // Only those who may watch recordings see the picture under it (the last one recorded in the range);
  // analysts, and ranges with nothing recorded, get a blank grid.
  if (may('playback')) {
    get(`/api/cameras/${encodeURIComponent(cam)}/recordings${qs({ start: base.from, end: base.to })}`).then((runs) => {
      const last = (runs || []).filter((r) => r.end > r.start).pop();
      if (!last) return;
      const at = Math.max(last.start, Math.min(last.end, base.to) - 2000);
      const src = (t) => `/api/cameras/${encodeURIComponent(cam)}/thumbnail.jpg${qs({ at: t, width: 640 })}`;
      // A picture near the end of a run that is still being written may not be there yet: then the
      // run's first picture, else the blank grid.
      under.replaceWith(h('img.heat-bg', { alt: '', src: src(at),
        onerror: (e) => {
          if (at > last.start && !e.target.dataset.fallback) { e.target.dataset.fallback = '1'; e.target.src = src(last.start); } else e.target.replaceWith(blank());
        } }));
    }).catch(() => {});
  }
  return h('div.card.pad', h('h2', `Heatmap: ${cam}`), h('div.heat-stack', { dataset: { heatmap: kind } }, under, overlay),
    h('a.button.ghost.small', { href: `/api/analytics/heatmap${qs({ ...params, format: 'csv' })}`, download: 'heatmap.csv', dataset: { csv: 'heatmap' } }, 'heatmap CSV'));
}

function reportsCard(list) {
  return h('div.card.pad', h('h2', 'Reports'), list.length
    ? h('table.data', h('thead', h('tr', ['Report', 'Period', 'Files'].map((t) => h('th', t)))),
      h('tbody', list.map((r) => h('tr', h('td', r.name), h('td', `${fmtTime(r.from)} – ${fmtTime(r.to)}`),
        h('td', r.files.map((f) => h('a', { href: `/api/reports/${encodeURIComponent(f)}`, target: '_blank', rel: 'noopener' }, f.split('.').pop().toUpperCase(), ' ')))))))
    : h('p.muted', 'No reports yet: schedule them with [[reports]] in vigil.toml, or run vigil report.'));
}
