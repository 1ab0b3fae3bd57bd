// Audit log (auditor, admin): who did what, when, from where; newest first, paged. Above it, recording
// integrity: `vigil verify recordings` run by the server, with progress and every problem found.

import { get, post, qs } from '../api.js';
import { h, mount, heading, fmtTime, fmtBytes, toast } from '../util.js';

export async function render() {
  let before = null;
  const body = h('tbody');
  const more = h('button.ghost', { type: 'button', hidden: true, onclick: () => load() }, 'Older entries');
  const status = h('p.muted.small');
  const integrity = integrityCard();
  mount(heading('Audit log'),
    integrity.card,
    h('p.muted.small', 'Append-only and hash-chained: `vigil audit verify` detects any edited or deleted entry.'),
    h('div.card.scroll', h('table.data',
      h('thead', h('tr', ['When', 'User', 'From', 'Action', 'Target', 'Detail'].map((t) => h('th', t)))),
      body)),
    status, h('div.pad.center-row', more));
  await load();
  return integrity.stop;

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

// Recording integrity: the last check's result, a button to run one, its progress while it runs.
function integrityCard() {
  const progress = h('progress', { max: 1, value: 0, hidden: true });
  const summary = h('p.small', 'Loading…');
  const problems = h('tbody');
  const table = h('table.data', { hidden: true },
    h('thead', h('tr', ['Fault', 'Camera', 'Segment', 'Time', 'File', 'Detail'].map((t) => h('th', t)))), problems);
  const button = h('button', { type: 'button', onclick: async () => {
    try { await post('/api/integrity/checks', {}); refresh(); } catch (e) { toast(e.message, 'error'); }
  } }, 'Verify recordings');
  let timer = null;
  let stopped = false;
  function show(c) {
    problems.replaceChildren();
    table.hidden = true;
    if (!c) { summary.textContent = 'No check since the server started.'; progress.hidden = true; return; }
    const who = `check ${c.id} by ${c.requested_by}, started ${fmtTime(c.started)}`;
    if (c.state === 'running') {
      progress.hidden = false;
      progress.value = c.total ? c.hashed / c.total : 0;
      summary.textContent = `Running: ${fmtBytes(c.hashed)} of ${fmtBytes(c.total)} hashed (${who})`;
      return;
    }
    progress.hidden = true;
    if (c.state === 'failed') { summary.textContent = `Could not run: ${c.error} (${who})`; summary.className = 'small error'; return; }
    const r = c.report || {};
    const list = r.problems || [];
    summary.className = list.length ? 'small error' : 'small';
    summary.textContent = `${list.length ? `${list.length} problem(s) found` : 'Recordings OK'}: ${r.segments} segment(s) in ${r.streams} stream(s), `
      + `${fmtBytes(r.bytes)} hashed, ${r.heads} signed head(s) checked, ${r.erased || 0} erased on request (${who})`;
    for (const p of list) {
      problems.append(h('tr.warn', h('td', h('span.tag', p.fault)), h('td', `${p.camera}/${p.stream}`), h('td', p.seq ?? '—'),
        h('td.nowrap', p.start_90k != null ? fmtTime(p.start_90k / 90) : '—'), h('td.mono.small', p.file || ''), h('td.small', p.detail)));
    }
    table.hidden = !list.length;
  }
  async function refresh() {
    clearTimeout(timer);
    if (stopped) return;
    try {
      const { checks } = await get('/api/integrity/checks');
      const last = checks[0];
      show(last);
      button.disabled = last?.state === 'running';
      if (last?.state === 'running') timer = setTimeout(refresh, 1000);
    } catch (e) { summary.textContent = e.message; }
  }
  refresh();
  const card = h('section.card.integrity', h('h2', 'Recording integrity'),
    h('p.muted.small', 'Hashes every recorded file and checks the hash chain and its signatures, as `vigil verify recordings` does. A check runs in the background; only one at a time.'),
    h('div.center-row', button, progress), summary, h('div.scroll', table));
  return { card, stop: () => { stopped = true; clearTimeout(timer); } };
}
