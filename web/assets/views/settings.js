// Settings (admin, the `config` permission): vigil.toml changed from the browser. Zones, lines and masks
// drawn over a camera's live picture; rules made and removed; cameras added (the stream probed first) and
// removed; the whole file edited as text, checked as `vigil config check` checks it; earlier versions
// looked at and restored. Every change is saved into vigil.toml with its comments kept, names the
// version it was made on (a change saved meanwhile by someone else is not overwritten), and is applied:
// rules straight into the running analysis, anything else by restarting the cameras in-process.

import { get, post, cam } from '../api.js';
import { LivePlayer } from '../live.js';
import { GeometryEditor } from '../draw.js';
import { h, mount, heading, toast, fmtTime } from '../util.js';

const KINDS = ['intrusion', 'loitering', 'line_crossing', 'crowding', 'queue'];
const CLASSES = ['person', 'bicycle', 'car', 'motorcycle', 'bus', 'truck'];

export async function render(ctx, camera) {
  let doc = await get('/api/config');
  const cameras = doc.cameras || [];
  const current = cameras.find((c) => c.name === camera) || cameras[0] || null;
  const stops = [];

  const status = h('p.small.muted', { role: 'status' });
  const picker = h('select', { 'aria-label': 'Camera to configure', onchange: (e) => ctx.go(`/settings/${encodeURIComponent(e.target.value)}`) },
    cameras.map((c) => h('option', { value: c.name, selected: current && c.name === current.name }, c.name)));

  /** Saves a form's change made on the version read; reports how it was applied. */
  async function change(edit) {
    try {
      const saved = await post('/api/config/edit', { version: doc.version, ...edit });
      report(saved);
      return saved;
    } catch (e) {
      const problems = e.problems || [];
      toast(problems.length ? `Not saved: ${e.message}` : `Not saved: ${e.message}`, 'error');
      status.textContent = e.message;
      if (e.status === 409) doc = await get('/api/config');
      return null;
    }
  }

  function report(saved) {
    doc.version = saved.version;
    if (saved.applied === 'rules') {
      status.textContent = `Saved to vigil.toml and applied to the running analysis of ${saved.cameras.join(', ')}.`;
      toast('Saved and applied');
    } else if (saved.applied === 'restart') {
      status.textContent = `Saved to vigil.toml; cameras and server restart with it now (${saved.detail}). The page reconnects by itself.`;
      toast('Saved: restarting cameras');
      setTimeout(() => waitBack(), 1500);
    } else {
      status.textContent = 'Saved (nothing to apply).';
      toast('Saved');
    }
  }

  async function waitBack() {
    for (let i = 0; i < 60; i += 1) {
      try { doc = await get('/api/config'); ctx.go(location.hash.slice(1)); return; } catch { /* restarting */ }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** Runs `edits` (not saved) over the camera's last minutes of recording; shows progress, then the answer. */
  async function preview(c, edits, out, minutes) {
    out.textContent = 'Previewing…';
    try {
      const { id } = await post('/api/config/preview', { camera: c.name, minutes, edits });
      for (;;) {
        await new Promise((r) => setTimeout(r, 700));
        const job = await get(`/api/config/preview/${id}`);
        if (job.state === 'running') { out.textContent = `Previewing… ${Math.round((job.done || 0) * 100)}%`; continue; }
        if (job.state === 'failed') { out.textContent = `Preview failed: ${job.error}`; return; }
        out.textContent = job.report.summary;
        return;
      }
    } catch (e) { out.textContent = `Preview failed: ${e.message}`; }
  }
  const minutesField = (name) => h('input', { name, type: 'number', min: 0.25, max: 30, step: 0.25, value: 5, 'aria-label': 'Minutes of recording to preview on' });

  const sections = [];
  if (current) sections.push(drawingCard(current), rulesCard(current));
  sections.push(addCameraCard(), textCard());
  mount(heading('Settings', picker), status, ...sections);
  return () => { for (const s of stops) s(); };

  // Zones, lines and masks drawn over the live picture.
  function drawingCard(c) {
    const video = h('video.live', { muted: true, playsinline: true });
    const box = h('div.video.large.drawing', video);
    const player = new LivePlayer(video, c.name);
    player.start();
    const r = c.rules || {};
    const editor = new GeometryEditor(box, video, {
      zones: (r.zone || []).map((z) => ({ name: z.name, points: z.points })),
      lines: (r.line || []).map((l) => ({ name: l.name, p1: l.p1, p2: l.p2, inbound: l.inbound })),
      masks: (r.mask || []).map((m) => ({ name: m.name, kind: m.kind, points: m.points })),
    }, () => drawList());
    stops.push(() => { editor.destroy(); player.stop(); });
    const previewMinutes = minutesField('geometry_minutes');
    const previewOut = h('p.preview', { role: 'status', 'aria-live': 'polite' });
    const name = h('input', { name: 'shape_name', placeholder: 'Name (optional)', 'aria-label': 'Name of the next shape', maxlength: 64 });
    name.addEventListener('input', () => { editor.pendingName = name.value.trim() || null; });
    const tools = h('div.seg', [['zone', 'Zone'], ['line', 'Line'], ['privacy', 'Privacy mask'], ['ignore', 'Ignore mask']].map(([t, label]) =>
      h('button', { type: 'button', class: t === 'zone' ? 'on' : '', 'aria-pressed': String(t === 'zone'), dataset: { tool: t }, onclick: (e) => {
        editor.setTool(t);
        for (const b of tools.children) { const on = b === e.currentTarget; b.classList.toggle('on', on); b.setAttribute('aria-pressed', String(on)); }
      } }, label)));
    const list = h('ul.shapes');
    function drawList() {
      name.value = '';
      list.replaceChildren(...editor.items.map((i, n) => h('li',
        h('span.badge', i.type),
        h('input', { value: i.name, 'aria-label': `Name of ${i.type} ${i.name}`, maxlength: 64, onchange: (e) => { i.name = e.target.value.trim() || i.name; editor.draw(); } }),
        i.type === 'line' ? h('button.ghost', { type: 'button', 'aria-label': `Flip the "in" direction of ${i.name}`, onclick: () => { i.inbound = i.inbound === 'b_to_a' ? 'a_to_b' : 'b_to_a'; editor.draw(); } }, '⇄ in') : null,
        h('button.ghost.danger', { type: 'button', 'aria-label': `Remove ${i.name}`, onclick: () => { editor.items.splice(n, 1); drawList(); editor.draw(); } }, 'Remove'))));
    }
    drawList();
    return h('section.card',
      h('h2', `Zones, lines and masks of ${c.name}`),
      h('p.small.muted', 'Click on the picture to add points. A zone or mask needs three points or more: finish it with the button, Enter or a double click. A line is done at its second point; its arrow points the way counted as "in".'),
      h('div.row-actions', tools, name,
        h('button.ghost', { type: 'button', onclick: () => { if (!editor.finish()) toast('A zone or mask needs three points', 'warn'); } }, 'Finish shape')),
      box, list,
      h('div.row-actions',
        h('button', { type: 'button', onclick: () => change({ edit: 'geometry', camera: c.name, geometry: editor.geometry() }) }, 'Save zones, lines and masks'),
        h('button.ghost', { type: 'button', onclick: () => preview(c, [{ edit: 'geometry', camera: c.name, geometry: editor.geometry() }], previewOut, Number(previewMinutes.value)) }, 'Preview on recent recording'),
        h('label.inline', previewMinutes, ' minutes')),
      previewOut);
  }

  // Rules of the camera.
  function rulesCard(c) {
    const r = c.rules || {};
    const zones = (r.zone || []).map((z) => z.name);
    const lines = (r.line || []).map((l) => l.name);
    const body = h('tbody', (r.rule || []).length ? (r.rule || []).map((rule) => h('tr',
      h('td', h('strong', rule.name)), h('td', rule.kind), h('td', rule.zone || rule.line || ''),
      h('td', (rule.classes || []).join(', ') || 'all'),
      h('td.right', h('button.ghost.danger', { type: 'button', 'aria-label': `Remove rule ${rule.name}`, onclick: async () => {
        if (!confirm(`Remove the rule ${rule.name}?`)) return;
        await change({ edit: 'remove_rule', camera: c.name, name: rule.name });
      } }, 'Remove')))) : [h('tr', h('td.muted', { colSpan: 5 }, 'No rules.'))]);
    const kind = h('select', { name: 'kind' }, KINDS.map((k) => h('option', { value: k }, k.replace('_', ' '))));
    const target = h('select', { name: 'target', 'aria-label': 'Zone or line the rule watches' });
    const fillTargets = () => {
      const useLine = kind.value === 'line_crossing';
      const names = useLine ? lines : zones;
      target.replaceChildren(...names.map((n) => h('option', { value: n }, n)));
      if (!names.length) target.append(h('option', { value: '' }, useLine ? 'draw a line first' : 'draw a zone first'));
    };
    kind.addEventListener('change', fillTargets);
    fillTargets();
    const ruleName = h('input', { name: 'rule_name', required: true, maxlength: 64 });
    const number = h('input', { name: 'amount', placeholder: 'e.g. 30s, or 5', 'aria-label': 'Dwell time (loitering, e.g. 30s), or the count to exceed (crowding, queue)' });
    const checks = CLASSES.map((k) => h('label.check', h('input', { type: 'checkbox', value: k, name: 'class', checked: k === 'person' }), k));
    const ruleOf = () => {
      const rule = { name: ruleName.value.trim() || 'Preview', kind: kind.value };
      if (kind.value === 'line_crossing') rule.line = target.value; else rule.zone = target.value;
      const classes = checks.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
      if (classes.length) rule.classes = classes;
      const amount = number.value.trim();
      if (kind.value === 'loitering') rule.min_dwell = amount || '30s';
      if ((kind.value === 'crowding' || kind.value === 'queue') && amount) rule.more_than = Number(amount);
      return rule;
    };
    const ruleMinutes = minutesField('rule_minutes');
    const ruleOut = h('p.preview', { role: 'status', 'aria-live': 'polite' });
    const form = h('form.card', { onsubmit: async (e) => {
      e.preventDefault();
      await change({ edit: 'set_rule', camera: c.name, rule: ruleOf() });
    } },
    h('h2', `Add or replace a rule of ${c.name}`),
    h('label', 'Name', ruleName), h('label', 'Kind', kind), h('label', 'Watches', target),
    h('label', 'Dwell or count', number),
    h('div.checks', checks),
    h('p.small.muted', 'A rule with the name of an existing one replaces it. Saving checks the whole file as vigil config check does: a problem is shown with its line, and nothing is written.'),
    h('div.row-actions', h('button', { type: 'submit' }, 'Save rule'),
      h('button.ghost', { type: 'button', onclick: () => preview(c, [{ edit: 'set_rule', camera: c.name, rule: ruleOf() }], ruleOut, Number(ruleMinutes.value)) }, 'Preview on recent recording'),
      h('label.inline', ruleMinutes, ' minutes')),
    ruleOut);
    return [h('section.card.scroll', h('h2', `Rules of ${c.name}`), h('table.data',
      h('thead', h('tr', ['Rule', 'Kind', 'Watches', 'Classes', ''].map((t) => h('th', t)))), body)), form];
  }

  // A new camera, probed first.
  function addCameraCard() {
    const f = {
      name: h('input', { name: 'cam_name', required: true, maxlength: 64, placeholder: 'gate', autocomplete: 'off' }),
      main: h('input', { name: 'cam_main', required: true, placeholder: 'rtsp://192.168.1.20:554/stream1', autocomplete: 'off' }),
      sub: h('input', { name: 'cam_sub', placeholder: 'optional: the low resolution stream', autocomplete: 'off' }),
      username: h('input', { name: 'cam_user', autocomplete: 'off' }),
      password: h('input', { name: 'cam_password', type: 'password', autocomplete: 'new-password' }),
      onvif: h('input', { name: 'cam_onvif', placeholder: 'optional: http://192.168.1.20/onvif/device_service', autocomplete: 'off' }),
    };
    // ONVIF discovery: the cameras on this network (or at one address), each ready to be used.
    const where = h('input', { name: 'discover_address', placeholder: 'optional: one camera\'s address (host or host:port)', 'aria-label': 'Address to ask instead of the whole network', autocomplete: 'off' });
    const found = h('ul.found', { 'aria-live': 'polite' });
    const discover = async () => {
      found.replaceChildren(h('li.muted', 'Looking for ONVIF cameras…'));
      try {
        const { devices } = await post('/api/config/discover', {
          address: where.value.trim() || undefined, username: f.username.value || undefined, password: f.password.value || undefined,
        });
        found.replaceChildren(...(devices.length ? devices.map((d) => h('li',
          h('strong', [d.manufacturer, d.model].filter(Boolean).join(' ') || d.name || d.address),
          ` · ${d.address || ''}`,
          d.error ? h('span.error', ` · ${d.error}`) : ` · main ${d.main || 'none'}${d.sub ? `, sub ${d.sub}` : ''}${d.ptz ? ' · PTZ' : ''}`,
          d.main ? h('button.ghost', { type: 'button', 'aria-label': `Use the camera at ${d.address}`, onclick: () => {
            const base = (d.name || d.model || 'camera').toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '') || 'camera';
            f.name.value = f.name.value || base;
            f.main.value = d.main;
            f.sub.value = d.sub || '';
            f.onvif.value = d.address || '';
            toast('Camera details filled in: check the name, then add it');
          } }, 'Use') : null)) : [h('li.muted', 'No ONVIF camera answered.')]));
      } catch (e) { found.replaceChildren(h('li.error', e.message)); }
    };
    const probed = h('p.small', { role: 'status' });
    const probe = async () => {
      probed.textContent = 'Probing…';
      try {
        const p = await post('/api/config/probe', { url: f.main.value.trim(), username: f.username.value || undefined, password: f.password.value || undefined });
        probed.textContent = `Main stream: ${p.codec.toUpperCase()} ${p.width}×${p.height} at ${p.fps} fps (${p.frames} frames received).`;
        return true;
      } catch (e) { probed.textContent = `Probe failed: ${e.message}`; return false; }
    };
    return h('form.card.grid-form', { onsubmit: async (e) => {
      e.preventDefault();
      const body = { name: f.name.value.trim(), main: f.main.value.trim() };
      for (const k of ['sub', 'username', 'password', 'onvif']) if (f[k].value.trim()) body[k] = f[k].value.trim();
      if (body.main.startsWith('rtsp') && !(await probe()) && !confirm('The stream did not answer. Add the camera anyway?')) return;
      await change({ edit: 'add_camera', camera: body });
    } },
    h('h2', 'Add a camera'),
    h('label', 'Name', f.name), h('label', 'Main stream (RTSP URL)', f.main), h('label', 'Sub stream', f.sub),
    h('label', 'User name', f.username), h('label', 'Password', f.password), h('label', 'ONVIF address', f.onvif),
    probed,
    h('div.discover', where, h('button.ghost', { type: 'button', onclick: discover }, 'Find ONVIF cameras')), found,
    h('div.row-actions', h('button.ghost', { type: 'button', onclick: probe }, 'Probe stream'), h('button', { type: 'submit' }, 'Add camera')));
  }

  // The whole file as text, and its history.
  function textCard() {
    const area = h('textarea.mono.config-text', { name: 'config_text', rows: 24, spellcheck: false, 'aria-label': 'vigil.toml' });
    area.value = doc.text;
    const problems = h('ul.problems', { role: 'alert' });
    const show = (list) => problems.replaceChildren(...list.map((p) => h('li', `line ${p.line}${p.field ? ` (${p.field})` : ''}: ${p.message}`)));
    const history = h('tbody');
    const loadHistory = async () => {
      const { versions } = await get('/api/config/history');
      history.replaceChildren(...(versions.length ? versions.slice().reverse().map((v) => h('tr',
        h('td', fmtTime(v.replaced_ms)), h('td.mono', v.version.slice(0, 12)), h('td', `${v.bytes} bytes`),
        h('td.right', h('button.ghost', { type: 'button', 'aria-label': `Load the version replaced at ${fmtTime(v.replaced_ms)} into the editor`, onclick: async () => {
          const { text } = await get(`/api/config/history/${encodeURIComponent(v.id)}`);
          area.value = text;
          toast('Earlier version loaded into the editor: check it and save to restore it');
        } }, 'Load')))) : [h('tr', h('td.muted', { colSpan: 4 }, 'No earlier versions yet.'))]));
    };
    loadHistory();
    return h('section.card',
      h('h2', 'vigil.toml'),
      h('p.small.muted', `${doc.path} · version ${doc.version.slice(0, 12)}`),
      area, problems,
      h('div.row-actions',
        h('button.ghost', { type: 'button', onclick: async () => {
          const r = await post('/api/config/check', { text: area.value });
          show(r.problems);
          toast(r.ok ? 'No problems: vigil config check would accept it' : `${r.problems.length} problem(s)`, r.ok ? 'info' : 'warn');
        } }, 'Check'),
        h('button', { type: 'button', onclick: async () => {
          try {
            const saved = await post('/api/config', { text: area.value, version: doc.version });
            show([]);
            report(saved);
            loadHistory();
          } catch (e) {
            show(e.problems || []);
            toast(`Not saved: ${e.message}`, 'error');
          }
        } }, 'Save file')),
      h('h3', 'Earlier versions'),
      h('table.data', h('thead', h('tr', ['Replaced', 'Version', 'Size', ''].map((t) => h('th', t)))), history));
  }
}
