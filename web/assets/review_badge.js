// The unreviewed count on the Review link: the caller's unreviewed items of the last 7 days
// (GET /api/review/count), fetched at login, whenever an event arrives over the live feed (at most once a
// second), and when the Review page changes something (refresh()).

import { get } from './api.js';
import * as alerts from './alerts.js';

let counts = null;
let unsubscribe = null;
let timer = null;

function draw() {
  const link = document.querySelector('#nav a[data-path="/review"]');
  if (!link) return;
  let b = link.querySelector('.count');
  const n = counts ? counts.total : 0;
  if (!n) { if (b) b.remove(); link.setAttribute('aria-label', 'Review, nothing unreviewed'); return; }
  if (!b) { b = document.createElement('span'); b.className = 'count review-count'; link.append(b); }
  b.textContent = String(n);
  b.title = `${n} unreviewed (${counts.alert} alert${counts.alert === 1 ? '' : 's'}) in the last ${counts.days} days`;
  b.classList.toggle('alert', counts.alert > 0);
  link.setAttribute('aria-label', `Review, ${n} unreviewed`);
}

/** Fetches the count again and redraws the badge. */
export async function refresh() {
  try { counts = await get('/api/review/count'); } catch { counts = null; }
  draw();
}

/** Starts keeping the badge current (after login). */
export function start() {
  if (unsubscribe) return;
  unsubscribe = alerts.subscribe(() => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 1000);
  });
  refresh();
}

/** Stops (logout). */
export function stop() {
  if (unsubscribe) unsubscribe();
  unsubscribe = null;
  clearTimeout(timer);
  counts = null;
}

/** Draws the badge again on a new navigation bar. */
export function redraw() { draw(); }
