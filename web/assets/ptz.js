// The PTZ panel of the camera page: shown when the camera can be moved (GET /api/cameras/{camera}/ptz says
// so: an ONVIF address and a PTZ service) and the user has the `ptz` permission. Arrows and zoom move while
// held (pointer down or Enter/Space/arrow key down: a continuous move, sent again while held since each
// lasts a few seconds at most; released: stop), a stop and a home button, the presets with Go, and "Save as
// preset". The server checks and audits every command; this only offers them.

import { get, post, cam } from './api.js';
import { user } from './app.js';
import { h, toast } from './util.js';

const HOLD_SECONDS = 2;       // each move's limit on the server (the camera stops if the page vanishes)
const KEEP_ALIVE_MS = 1200;   // a held control sends its move again this often

// [label, aria-label, key, pan, tilt, zoom]
const CONTROLS = [
  ['▲', 'Tilt up', 'ArrowUp', 0, 1, 0],
  ['◀', 'Pan left', 'ArrowLeft', -1, 0, 0],
  ['▶', 'Pan right', 'ArrowRight', 1, 0, 0],
  ['▼', 'Tilt down', 'ArrowDown', 0, -1, 0],
  ['+', 'Zoom in', '+', 0, 0, 1],
  ['−', 'Zoom out', '-', 0, 0, -1],
];

/** The PTZ panel of `camera`: `{ el, destroy }`, or null when it cannot be moved or the user may not. */
export async function ptzPanel(camera) {
  const u = user();
  if (!u || !(u.permissions || []).includes('ptz')) return null;
  let info;
  try {
    info = await get(`/api/cameras/${cam(camera)}/ptz`);
  } catch (e) {
    // A camera that should move but cannot be reached says so, once.
    if (e.status === 502) toast(`PTZ: ${e.message}`, 'warn');
    return null;
  }
  if (!info || !info.ptz) return null;

  const url = `/api/cameras/${cam(camera)}/ptz`;
  const status = h('span.small.muted.ptz-status', { 'aria-live': 'polite' });
  const speed = h('input', { type: 'range', min: '0.1', max: '1', step: '0.1', value: '0.5', 'aria-label': 'PTZ speed' });
  const presets = h('select', { 'aria-label': 'Preset', name: 'preset' });
  const presetName = h('input', { type: 'text', maxlength: 64, placeholder: 'Preset name', 'aria-label': 'New preset name', name: 'preset_name' });
  let held = null;      // { dir, timer } while a control is held
  let destroyed = false;

  const showStatus = (s) => {
    if (!s) return;
    const f = (v) => (typeof v === 'number' ? v.toFixed(2) : '—');
    status.textContent = `pan ${f(s.pan)} · tilt ${f(s.tilt)} · zoom ${f(s.zoom)}`;
  };
  const fillPresets = (list, chosen) => {
    presets.replaceChildren(...(list || []).map((p) => h('option', { value: p.token, selected: p.token === chosen }, p.name || p.token)));
  };
  fillPresets(info.presets);
  showStatus(info.status);

  async function send(body) {
    try {
      const r = await post(url, body);
      if (r && r.status) showStatus(r.status);
      return r;
    } catch (e) {
      toast(`PTZ: ${e.message}`, 'warn');
      return null;
    }
  }

  function move(dir) {
    const v = Number(speed.value) || 0.5;
    return send({ move: [dir[0] * v, dir[1] * v, dir[2] * v], seconds: HOLD_SECONDS });
  }

  function start(dir) {
    if (held) stop();
    held = { dir, timer: setInterval(() => { if (held) move(held.dir); }, KEEP_ALIVE_MS) };
    move(dir);
  }

  // Releasing a held control stops the camera; nothing is sent when nothing is held.
  function stop() {
    if (!held) return;
    clearInterval(held.timer);
    held = null;
    halt();
  }

  function halt() {
    send({ stop: true }).then(() => refresh());
  }

  async function refresh() {
    try {
      const r = await get(url);
      if (destroyed || !r || !r.ptz) return;
      showStatus(r.status);
    } catch { /* the next command reports it */ }
  }

  const buttons = CONTROLS.map(([label, aria, , pan, tilt, zoom]) => {
    const dir = [pan, tilt, zoom];
    const b = h('button.ghost.ptz-btn', { type: 'button', 'aria-label': aria, title: `${aria} (hold)`, dataset: { ptz: aria.toLowerCase().replace(/ /g, '-') } }, label);
    b.addEventListener('pointerdown', (e) => { e.preventDefault(); b.setPointerCapture?.(e.pointerId); start(dir); });
    for (const end of ['pointerup', 'pointercancel', 'lostpointercapture']) b.addEventListener(end, () => stop());
    b.addEventListener('keydown', (e) => {
      if ((e.key === 'Enter' || e.key === ' ') && !e.repeat) { e.preventDefault(); start(dir); }
    });
    b.addEventListener('keyup', (e) => { if (e.key === 'Enter' || e.key === ' ') stop(); });
    b.addEventListener('blur', () => stop());
    return b;
  });
  const [up, left, right, down, zin, zout] = buttons;
  const stopButton = h('button.ghost.ptz-btn', { type: 'button', 'aria-label': 'Stop', title: 'Stop', onclick: () => { if (held) stop(); else halt(); } }, '■');
  const homeButton = h('button.ghost', { type: 'button', 'aria-label': 'Home position', onclick: () => send({ home: true }) }, '⌂ Home');
  const goButton = h('button', {
    type: 'button', 'aria-label': 'Go to the chosen preset',
    onclick: () => { if (presets.value) send({ preset: presets.value }); },
  }, 'Go');
  const saveButton = h('button.ghost', {
    type: 'button', 'aria-label': 'Save the current position as a preset',
    onclick: async () => {
      const name = presetName.value.trim();
      if (!name) { presetName.focus(); toast('Name the preset first.', 'warn'); return; }
      const r = await send({ set_preset: name });
      if (!r) return;
      presetName.value = '';
      toast(`Preset “${name}” saved`, 'info');
      try {
        const now = await get(url);
        fillPresets(now.presets, r.preset && r.preset.token);
      } catch { /* the list refreshes next time */ }
    },
  }, 'Save as preset');

  // Arrow keys and +/- while the panel has the focus (not while typing a name or choosing a preset).
  const panel = h('section.card.ptz', { 'aria-label': 'Camera movement (PTZ)', tabindex: '-1' },
    h('h2', 'Move camera'),
    h('div.ptz-body',
      h('div.ptz-pad', { role: 'group', 'aria-label': 'Pan and tilt' },
        h('span'), up, h('span'), left, stopButton, right, h('span'), down, h('span')),
      h('div.ptz-zoom', { role: 'group', 'aria-label': 'Zoom' }, zin, zout),
      h('div.ptz-side',
        h('label.small', 'Speed ', speed),
        homeButton,
        h('div.ptz-presets', presets, goButton),
        h('div.ptz-presets', presetName, saveButton),
        info.autotrack ? h('p.small.muted', `Autotracking: the camera follows people by itself and goes back to “${info.autotrack.preset}” when no one is left; your moves pause it for 30 s.`) : null,
        status)));
  panel.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.repeat) return;
    const c = CONTROLS.find((x) => x[2] === e.key || (x[2] === '+' && e.key === '='));
    if (!c) return;
    e.preventDefault();
    start([c[3], c[4], c[5]]);
  });
  panel.addEventListener('keyup', (e) => {
    if (CONTROLS.some((x) => x[2] === e.key || (x[2] === '+' && e.key === '='))) stop();
  });
  return {
    el: panel,
    destroy() {
      destroyed = true;
      stop();
    },
  };
}
