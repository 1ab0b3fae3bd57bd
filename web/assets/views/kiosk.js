// Wall display (kiosk mode): one camera group live, full screen, no menus. Opened once with the link an
// admin made (#/kiosk/SECRET): the secret becomes an HttpOnly cookie and leaves the address bar, so a
// reload (#/kiosk) goes on showing the group. Never logged out for being idle; revoking the display
// stops it within seconds.

import { get, post } from '../api.js';
import { h, mount } from '../util.js';
import { liveGrid, groupLayout } from './grid.js';

export async function render(_ctx, secret) {
  document.body.classList.add('kiosk');
  if (secret) {
    try {
      await post('/api/display/login', { secret });
    } catch (e) {
      return revoked(e.message);
    }
    history.replaceState(null, '', '#/kiosk');
  }
  let me;
  try {
    me = await get('/api/display');
  } catch (e) {
    return revoked(e.status === 401 ? 'This display is not logged in, or its link was revoked. Ask an admin for a new link.' : e.message);
  }
  const group = me.group;
  if (!group) return revoked('None of this display group\'s cameras can be shown.');
  const cameras = await get('/api/cameras');
  const shown = group.cameras.map((n) => cameras.find((c) => c.name === n)).filter(Boolean);
  const { grid, stop } = liveGrid(shown, groupLayout(group), { links: false, events: false });
  mount(h('h1.sr-only', `${me.name}: ${group.name}`), grid);
  // The display keeps checking it may still show the group (a revoked display stops here too, not
  // only through its video sockets closing).
  const check = setInterval(async () => {
    try { await get('/api/display'); } catch (e) { if (e.status === 401) { stop(); clearInterval(check); revoked('This display was revoked.'); } }
  }, 10000);
  return () => { clearInterval(check); stop(); document.body.classList.remove('kiosk'); };
}

function revoked(message) {
  mount(h('div.pad', h('h1', 'Wall display'), h('p.error', { role: 'alert' }, message)));
  return () => document.body.classList.remove('kiosk');
}
