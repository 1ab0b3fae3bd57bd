// System health: version and uptime, per-camera stream and analysis figures, detector latency, storage.
// Refreshes every 5 seconds while open.

import { get, post } from '../api.js';
import { h, mount, heading, fmtDuration, fmtBytes, fmtTime, dot, toast } from '../util.js';
import { hasRole } from '../app.js';

export async function render() {
  const top = h('div.stats');
  const cams = h('tbody');
  const storage = h('div.storage');
  const status = h('p.muted.small');
  // What is wrong now, in words (consumers behind, MQTT down, storage conditions).
  const warnings = h('ul.warnings', { role: 'status', 'aria-label': 'Warnings' });
  mount(heading('System'), warnings, top,
    h('section.card.scroll', h('h2', 'Cameras'), h('table.data',
      h('thead', h('tr', ['Camera', 'Stream', 'Health', 'fps in', 'fps analysed', 'skipped', 'reconnects', 'recorded'].map((t) => h('th', t)))),
      cams)),
    h('section.card', h('h2', 'Storage'), storage), retentionCard(), status);

  async function refresh() {
    try {
      const s = await get('/api/system');
      const d = s.detector || {};
      top.replaceChildren(
        stat('Version', s.version || '—'),
        stat('Uptime', fmtDuration(s.uptime_s || 0)),
        stat('Cameras online', `${(s.cameras || []).filter((c) => c.online).length} / ${(s.cameras || []).length}`),
        stat('Detector p50', d.latency_ms_p50 != null ? `${d.latency_ms_p50.toFixed(1)} ms` : '—'),
        stat('Detector p99', d.latency_ms_p99 != null ? `${d.latency_ms_p99.toFixed(1)} ms` : '—'));
      warnings.replaceChildren(...(s.warnings || []).map((w) => h('li', w)));
      cams.replaceChildren(...(s.cameras || []).map((c) => h('tr',
        h('td', h('strong', c.name)),
        h('td', dot(c.online, c.online ? 'online' : 'offline')),
        // Camera health states on now (covered, moved, stream_quality…), each also an event.
        h('td.health', (c.health || []).length ? dot(false, c.health.map((s) => s.replace('_', ' ')).join(', ')) : dot(true, 'ok')),
        h('td.num', num(c.fps_in)), h('td.num', num(c.fps_analysed)),
        h('td.num', c.skipped ?? '—'), h('td.num', c.reconnects ?? '—'),
        h('td.num', fmtBytes(c.recording_bytes)))));
      storage.replaceChildren(...(s.storage || []).map((st) => {
        if (typeof st !== 'object' || st === null) return h('p', String(st));
        // The budget ([storage.dirs] max_bytes), else the disk (admins see its size).
        const used = st.used_bytes || 0;
        const disk = st.total_bytes ? { max: st.total_bytes, value: st.total_bytes - (st.free_bytes || 0) } : null;
        const parts = [st.max_bytes ? `${fmtBytes(used)} of ${fmtBytes(st.max_bytes)} recorded` : `${fmtBytes(used)} recorded`];
        if (disk) parts.push(`disk ${fmtBytes(st.free_bytes || 0)} free of ${fmtBytes(st.total_bytes)}`);
        parts.push(st.oldest_ms ? `oldest recording ${fmtTime(st.oldest_ms)}` : 'nothing recorded yet');
        // The forecast at the last hour's write rate.
        if (st.write_bytes_per_s != null) {
          parts.push(`writing ${fmtBytes(st.write_bytes_per_s)}/s`);
          if (st.days_kept != null) parts.push(`holds ${fmtDays(st.days_kept)} of footage at this rate`);
          if (st.retention_days != null) parts.push(`retention asks for ${st.retention_days} days`);
          if (st.days_until_full != null) parts.push(st.days_until_full < 0.01 ? 'full: the oldest footage makes room' : `full in ${fmtDays(st.days_until_full)}`);
        }
        return h('div.store',
          h('div', h('strong', st.name || st.path || 'storage'), ' ', st.path && st.name ? h('span.muted.small', st.path) : null,
            st.online === false ? h('span.badge.offline', 'offline') : null),
          st.max_bytes ? h('progress', { max: st.max_bytes, value: used, title: 'recorded of the budget' })
            : disk ? h('progress', { max: disk.max, value: disk.value, title: 'disk in use' }) : null,
          h('div.muted.small.storage-figures', parts.join(' · ')));
      }));
      if (!storage.children.length) storage.append(h('p.muted', 'No storage configured.'));
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      status.textContent = e.message;
    }
  }

  await refresh();
  const timer = setInterval(refresh, 5000);
  return () => clearInterval(timer);
}

function stat(label, value) {
  return h('div.stat.card', h('div.muted.small', label), h('div.value', value));
}

function fmtDays(d) {
  return d >= 2 ? `${Math.round(d)} days` : d >= 1 / 24 ? `${Math.round(d * 24)} hours` : `${Math.max(1, Math.round(d * 1440))} minutes`;
}

function num(v) {
  return typeof v === 'number' ? v.toFixed(1) : '—';
}

// Retention maximums: shown to everyone, set by the auditor alone (no configuration can exceed them).
function retentionCard() {
  const CLASSES = [['continuous_days', 'Continuous recordings'], ['event_days', 'Events and their footage'], ['hold_days', 'Evidence holds']];
  const inputs = Object.fromEntries(CLASSES.map(([k]) => [k, h('input', { type: 'number', min: 1, max: 36500, name: k, placeholder: 'none', disabled: !hasRole('auditor') })]));
  const form = h('form.retention', { onsubmit: async (e) => {
    e.preventDefault();
    const body = Object.fromEntries(CLASSES.map(([k]) => [k, inputs[k].value ? Number(inputs[k].value) : null]));
    try { await post('/api/retention', body); toast('Retention maximums set'); } catch (err) { toast(err.message, 'error'); }
  } },
  CLASSES.map(([k, label]) => h('label', `${label} (days)`, inputs[k])),
  hasRole('auditor') ? h('button', { type: 'submit' }, 'Set maximums') : h('p.muted.small', 'Set by the auditor; nobody else can exceed them.'));
  get('/api/retention').then(({ limits }) => {
    for (const [k] of CLASSES) inputs[k].value = limits[k] ?? '';
  }).catch(() => { form.hidden = true; });
  return h('section.card', h('h2', 'Retention maximums'), form);
}
