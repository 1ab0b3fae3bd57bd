// Camera groups and wall displays (admin): groups with their cameras in order and tiles per row, as the
// Live page offers them; wall displays (kiosk mode) that show one group live on a screen nobody logs
// into: the link is shown once, the display never idles out, and revoking it stops the screen.

import { get, post, patch, del } from '../api.js';
import { h, mount, heading, toast, fmtTime } from '../util.js';

const COLUMNS = [[0, 'Fit to screen'], [1, '1 per row'], [2, '2 per row'], [3, '3 per row'], [4, '4 per row'],
  [5, '5 per row'], [6, '6 per row'], [8, '8 per row']];

export async function render() {
  const cameras = (await get('/api/cameras')).map((c) => c.name);
  const groupsBody = h('tbody');
  const displaysBody = h('tbody');
  const shown = h('div.card', { hidden: true, role: 'status' });
  let groups = [];

  // The group editor: name, cameras ticked and ordered, layout. Editing fills it from a row.
  let editing = null;
  const name = h('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'off' });
  const columns = h('select', { name: 'columns' }, COLUMNS.map(([v, t]) => h('option', { value: String(v) }, t)));
  const order = []; // camera names in the group's order
  const list = h('ol.order', { 'aria-label': 'Cameras of the group, in order' });
  const pick = h('select', { 'aria-label': 'Camera to add' });
  const title = h('h2', 'New camera group');
  const submit = h('button', { type: 'submit' }, 'Create group');
  const error = h('p.error', { role: 'alert' });

  function drawOrder() {
    list.replaceChildren(...order.map((c, i) => h('li', h('span', c),
      h('button.ghost.small', { type: 'button', 'aria-label': `Move ${c} up`, disabled: i === 0,
        onclick: () => { [order[i - 1], order[i]] = [order[i], order[i - 1]]; drawOrder(); } }, '↑'),
      h('button.ghost.small', { type: 'button', 'aria-label': `Move ${c} down`, disabled: i === order.length - 1,
        onclick: () => { [order[i + 1], order[i]] = [order[i], order[i + 1]]; drawOrder(); } }, '↓'),
      h('button.ghost.small', { type: 'button', 'aria-label': `Remove ${c} from the group`,
        onclick: () => { order.splice(i, 1); drawOrder(); } }, '✕'))));
    pick.replaceChildren(h('option', { value: '' }, 'Add a camera…'),
      ...cameras.filter((c) => !order.includes(c)).map((c) => h('option', { value: c }, c)));
  }
  pick.addEventListener('change', () => { if (pick.value) { order.push(pick.value); drawOrder(); } });

  function edit(g) {
    editing = g;
    name.value = g ? g.name : '';
    columns.value = String(g ? g.columns : 0);
    order.splice(0, order.length, ...(g ? g.cameras : []));
    title.textContent = g ? `Edit group ${g.name}` : 'New camera group';
    submit.textContent = g ? 'Save group' : 'Create group';
    error.textContent = '';
    drawOrder();
  }

  const form = h('form.card', {
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      const body = { name: name.value.trim(), cameras: [...order], columns: Number(columns.value) };
      try {
        if (editing) await patch(`/api/groups/${editing.id}`, body); else await post('/api/groups', body);
        toast(`Group ${body.name} saved`);
        edit(null);
        await refresh();
      } catch (err) { error.textContent = err.message; }
    },
  }, title,
  h('label', 'Name', name),
  h('label', 'Layout', columns),
  h('div', h('p.small.muted', 'Cameras, in the order the grid shows them'), list, pick),
  error,
  h('div.row-actions', submit, h('button.ghost', { type: 'button', onclick: () => edit(null) }, 'Clear')));

  // Wall displays.
  const dName = h('input', { name: 'display', required: true, maxlength: 64, placeholder: 'Lobby wall', autocomplete: 'off' });
  const dGroup = h('select', { name: 'group', 'aria-label': 'Group the display shows' });
  const dError = h('p.error', { role: 'alert' });
  const displayForm = h('form.card', {
    onsubmit: async (e) => {
      e.preventDefault();
      dError.textContent = '';
      try {
        const made = await post('/api/displays', { name: dName.value.trim(), group_id: Number(dGroup.value) });
        const url = `${location.origin}${made.path}`;
        shown.hidden = false;
        shown.replaceChildren(h('h2', `Display ${made.display.name}`),
          h('p', 'Open this address on the wall screen. It is shown only now; anyone with it sees the group live until you revoke the display.'),
          h('input.mono', { readonly: true, value: url, 'aria-label': 'Display address', dataset: { displayUrl: '1' } }),
          h('button.ghost', { type: 'button', onclick: async () => {
            try { await navigator.clipboard.writeText(url); toast('Address copied'); } catch { toast('Select the address and copy it', 'warn'); }
          } }, 'Copy'));
        dName.value = '';
        await refresh();
      } catch (err) { dError.textContent = err.message; }
    },
  }, h('h2', 'New wall display'),
  h('p.small.muted', 'A screen that shows one group live, logged in by a link instead of a password: never logged out for being idle, nothing but live video of that group, and revocable here at any time.'),
  h('label', 'Name', dName), h('label', 'Group', dGroup), dError,
  h('button', { type: 'submit' }, 'Make display link'));

  mount(heading('Layouts'),
    h('div.card.scroll', h('h2', 'Camera groups'), h('table.data',
      h('thead', h('tr', ['Group', 'Cameras', 'Layout', ''].map((t) => h('th', t)))), groupsBody)),
    form,
    h('div.card.scroll', h('h2', 'Wall displays'), h('table.data',
      h('thead', h('tr', ['Display', 'Group', 'Made by', 'Made', 'Last seen', ''].map((t) => h('th', t)))), displaysBody)),
    shown,
    displayForm);
  edit(null);
  await refresh();

  async function refresh() {
    const [g, d] = await Promise.all([get('/api/groups'), get('/api/displays')]);
    groups = g;
    groupsBody.replaceChildren(...(groups.length ? groups.map((x) => h('tr',
      h('td', h('strong', x.name)), h('td', x.cameras.join(', ')),
      h('td', (COLUMNS.find(([v]) => v === x.columns) || [0, `${x.columns} per row`])[1]),
      h('td.right.row-actions',
        h('button.ghost', { type: 'button', 'aria-label': `Edit group ${x.name}`, onclick: () => edit(x) }, 'Edit'),
        h('button.ghost.danger', { type: 'button', 'aria-label': `Delete group ${x.name}`, onclick: async () => {
          if (!confirm(`Delete the group ${x.name}? Its wall displays stop.`)) return;
          try { await del(`/api/groups/${x.id}`); toast(`Group ${x.name} deleted`); await refresh(); } catch (e) { toast(e.message, 'error'); }
        } }, 'Delete')))) : [h('tr', h('td.muted', { colSpan: 4 }, 'No groups yet.'))]));
    dGroup.replaceChildren(...groups.map((x) => h('option', { value: String(x.id) }, x.name)));
    displayForm.querySelector('button[type=submit]').disabled = !groups.length;
    displaysBody.replaceChildren(...(d.length ? d.map((x) => h('tr',
      h('td', h('strong', x.name)), h('td', x.group), h('td', x.created_by), h('td', fmtTime(x.created_ms)),
      h('td', x.last_used_ms ? fmtTime(x.last_used_ms) : h('span.muted', 'never')),
      h('td.right', h('button.ghost.danger', { type: 'button', 'aria-label': `Revoke display ${x.name}`, onclick: async () => {
        if (!confirm(`Revoke the display ${x.name}? Its screen stops within seconds.`)) return;
        try { await del(`/api/displays/${x.id}`); toast(`Display ${x.name} revoked`); await refresh(); } catch (e) { toast(e.message, 'error'); }
      } }, 'Revoke')))) : [h('tr', h('td.muted', { colSpan: 6 }, 'No wall displays.'))]));
  }
}
