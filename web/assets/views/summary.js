// Summaries (GET /api/summary): what happened over a range or in one incident, from the stored facts
// only. Each sentence shows its confidence and numbered links to the clips and snapshots behind it; a
// fact whose footage is gone says so instead of linking.

import { get, qs } from '../api.js';
import { h } from '../util.js';

/** The summary of `params` ({from, to, camera} or {incident}) as an element, loaded into `into`. */
export async function showSummary(into, params, onClose) {
  into.replaceChildren(
    h('div.detail-head', h('h2', params.incident ? 'Incident summary' : 'Summary'),
      h('button.ghost', { type: 'button', onclick: onClose }, '✕')),
    h('p.muted.small', 'Loading…'));
  let s;
  try {
    s = await get(`/api/summary${qs(params)}`);
  } catch (err) {
    into.lastChild.textContent = err.message;
    return;
  }
  const link = (c) => {
    const label = `[${c.n}]`;
    if (c.footage === 'gone') return h('span.muted', { title: 'Not in the recordings: not recorded, deleted since, or not written yet' }, `${label} no footage`);
    return h('span.cite',
      h('a', { href: c.ui, onclick: onClose, title: `Play ${c.camera} from this moment` }, label),
      ' ', h('a.small', { href: c.clip, target: '_blank', rel: 'noopener', title: 'The clip as an MP4' }, 'mp4'),
      c.snapshot ? [' ', h('a.small', { href: `${c.snapshot}?kind=full`, target: '_blank', rel: 'noopener' }, 'snapshot')] : null);
  };
  into.lastChild.replaceWith(
    h('ol.summary', s.sentences.map((x) => h('li', { dataset: { kind: x.kind } },
      h('span.tag', { title: 'Confidence from the facts (0-1)' }, x.confidence.toFixed(2)), ' ',
      x.kind === 'headline' ? h('strong', x.text) : x.text, ' ',
      x.citations.slice(0, 12).map((c) => [link(c), ' ']),
      x.citations.length > 12 ? h('span.muted.small', `+${x.citations.length - 12} more`) : null))),
    h('p.muted.small', s.empty
      ? 'Nothing happened in this range: the summary says only what the recordings cover.'
      : `${s.events} event(s). Sentences are made from the stored facts only.`));
}
