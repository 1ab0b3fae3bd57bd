// Audit log (auditor, admin): who did what, when, from where; newest first, paged.

import { get, qs } from '../api.js';
import { h, mount, heading, fmtTime } from '../util.js';

export async function render() {
  let before = null;
  const body = h('tbody');
  const more = h('button.ghost', { type: 'button', hidden: true, onclick: () => load() }, 'Older entries');
  const status = h('p.muted.small');
  mount(heading('Audit log'),
    h('p.muted.small', 'Append-only and hash-chained: `vigil audit verify` detects any edited or deleted entry.'),
    h('div.card.scroll', h('table.data',
      h('thead', h('tr', ['When', 'User', 'From', 'Action', 'Target', 'Detail'].map((t) => h('th', t)))),
      body)),
    status, h('div.pad.center-row', more));
  await load();

  async function load() {
    status.textContent = 'Loading…';
    try {
      const r = await get(`/api/audit${qs({ before, limit: 100 })}`);
      const entries = r.entries || [];
      for (const e of entries) {
        body.append(h('tr', { class: /fail|denied|locked/i.test(e.action) ? 'warn' : '' },
          h('td.nowrap', fmtTime(e.at)), h('td', e.user || '—'), h('td.mono', e.ip || '—'),
          h('td', h('span.tag', e.action)), h('td', e.target || ''),
          h('td.small', typeof e.detail === 'string' ? e.detail : e.detail ? JSON.stringify(e.detail) : '')));
      }
      before = entries.length ? entries[entries.length - 1].id : before;
      more.hidden = entries.length < 100;
      status.textContent = body.children.length ? '' : 'No entries.';
    } catch (e) {
      status.textContent = e.message;
    }
  }
}
