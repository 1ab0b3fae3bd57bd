// Dual authorization: ask a second user for access to a sensitive camera's recordings, and (approvers)
// approve or deny other users' requests. An approval lets its requester in for one hour, for the range asked.

import { get, post } from '../api.js';
import { h, mount, heading, fmtTime, toast, fromLocalInput, toLocalInput } from '../util.js';
import { may, user } from '../app.js';

export async function render() {
  const status = h('p.muted.small', 'Loading…');
  const body = h('tbody');
  const camSelect = h('select', { name: 'camera', required: true, 'aria-label': 'Camera' });
  const now = Date.now();
  const from = h('input', { type: 'datetime-local', step: 1, name: 'from', required: true, value: toLocalInput(now - 3600e3), 'aria-label': 'From' });
  const to = h('input', { type: 'datetime-local', step: 1, name: 'to', required: true, value: toLocalInput(now), 'aria-label': 'To' });
  const action = h('select', { name: 'action', 'aria-label': 'Action' },
    h('option', { value: 'playback' }, 'Play'), h('option', { value: 'export' }, 'Export'));
  const reason = h('input', { name: 'reason', required: true, maxlength: 200, placeholder: 'Reason (e.g. incident number)' });
  const form = h('form.inline', { onsubmit: async (e) => {
    e.preventDefault();
    const start = fromLocalInput(from.value), end = fromLocalInput(to.value);
    try {
      await post('/api/approvals', { camera: camSelect.value, start, end, action: action.value, reason: reason.value });
      toast('Request sent: a second user must approve it');
      render();
    } catch (err) { toast(err.message, 'error'); }
  } }, camSelect, from, to, action, reason, h('button', { type: 'submit' }, 'Ask for access'));
  mount(heading('Approvals'),
    h('p.muted.small', 'Recordings of sensitive cameras play and export only after a second user approves, for one hour.'),
    h('section.card', form),
    h('div.card.scroll', h('table.data',
      h('thead', h('tr', ['Asked', 'By', 'Camera', 'Range', 'For', 'Reason', 'State', ''].map((t) => h('th', t)))), body)),
    status);
  try {
    const cameras = (await get('/api/cameras')).filter((c) => c.sensitive);
    for (const c of cameras) camSelect.append(h('option', { value: c.name }, c.name));
    if (!cameras.length) form.hidden = true;
    const { approvals } = await get('/api/approvals');
    const me = user()?.username;
    for (const a of approvals) {
      const decide = (verb) => h('button.ghost', { type: 'button', onclick: async () => {
        try { await post(`/api/approvals/${a.id}/${verb}`); render(); } catch (err) { toast(err.message, 'error'); }
      } }, verb === 'approve' ? 'Approve' : 'Deny');
      const actions = a.state === 'pending' && may('approve') && a.requested_by !== me ? [decide('approve'), ' ', decide('deny')] : null;
      body.append(h('tr', h('td.nowrap', fmtTime(a.requested)), h('td', a.requested_by), h('td', a.camera),
        h('td.small', `${fmtTime(a.start)} – ${fmtTime(a.end)}`), h('td', a.action), h('td.small', a.reason),
        h('td', h('span.tag', a.state), a.decided_by ? ` by ${a.decided_by}` : ''), h('td', actions)));
    }
    status.textContent = approvals.length ? '' : (cameras.length ? 'No requests.' : 'No camera is marked sensitive.');
  } catch (e) { status.textContent = e.message; }
}
