// Events as they happen, for the whole console: one WebSocket to /api/events/live while someone is logged
// in with the events permission, shared by every page (the events list, the camera timeline, the grid's
// tiles) through subscribe(). It also keeps the events now in progress, shown as a count on the Events
// link, and, when the user asked for them, plays a short sound and shows a browser notification when an
// alert starts (an event whose alert level is not "none").

import { get } from './api.js';

const listeners = new Set();
const stateListeners = new Set();
const active = new Map(); // event id -> the event's latest message, while it has not ended
let ws = null;
let timer = null;
let retry = 0;
let running = false;
let state = 'off';
let audio = null;

const PREFS = 'vigil.alerts';

/** The user's choices: { sound: bool, notify: bool } (kept in this browser). */
export function prefs() {
  try { return { sound: false, notify: false, ...JSON.parse(localStorage.getItem(PREFS) || '{}') }; } catch { return { sound: false, notify: false }; }
}

/** Changes the user's choices; asking for notifications asks the browser's permission first. */
export async function setPrefs(change) {
  const next = { ...prefs(), ...change };
  if (change.notify && 'Notification' in window && Notification.permission !== 'granted') {
    next.notify = (await Notification.requestPermission()) === 'granted';
  }
  localStorage.setItem(PREFS, JSON.stringify(next));
  return next;
}

/** Calls fn(event) for every event message until the returned function is called. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Calls fn(state) now and whenever the connection changes ('live', 'reconnecting…', 'off'). */
export function onState(fn) {
  stateListeners.add(fn);
  fn(state);
  return () => stateListeners.delete(fn);
}

/** The events in progress now (started, not ended), newest first. */
export function inProgress() {
  return [...active.values()].sort((a, b) => b.start - a.start);
}

function setState(s) {
  state = s;
  for (const fn of stateListeners) fn(s);
}

function badge() {
  const link = document.querySelector('#nav a[data-path="/events"]');
  if (!link) return;
  let b = link.querySelector('.count');
  const n = active.size;
  if (!n) { if (b) b.remove(); return; }
  if (!b) { b = document.createElement('span'); b.className = 'count'; link.append(b); }
  b.textContent = String(n);
  b.title = `${n} event${n === 1 ? '' : 's'} in progress`;
  link.setAttribute('aria-label', `Events, ${n} in progress`);
}

function isAlert(e) {
  const level = e.facts && e.facts.alert;
  return level !== 'none';
}

function beep() {
  try {
    audio = audio || new AudioContext();
    const o = audio.createOscillator();
    const g = audio.createGain();
    o.frequency.value = 880;
    g.gain.setValueAtTime(0.15, audio.currentTime);
    g.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    o.connect(g).connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.4);
  } catch { /* no audio here */ }
}

function announce(e) {
  const p = prefs();
  if (p.sound) beep();
  if (p.notify && 'Notification' in window && Notification.permission === 'granted') {
    try {
      const n = new Notification(`${e.camera}: ${e.kind.replace('_', ' ')}`, { body: e.description || '', tag: e.id });
      n.onclick = () => { window.focus(); location.hash = `#/camera/${encodeURIComponent(e.camera)}?t=${Math.round(e.start - 3000)}`; };
    } catch { /* notifications refused by the browser */ }
  }
}

function handle(e) {
  if (e.end || e.phase === 'end') active.delete(e.id);
  else {
    if (!active.has(e.id) && e.phase === 'start' && isAlert(e)) announce(e);
    active.set(e.id, e);
  }
  badge();
  for (const fn of listeners) {
    try { fn(e); } catch { /* one page's failure is not the others' */ }
  }
}

function connect() {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  ws = new WebSocket(`${proto}://${location.host}/api/events/live`);
  ws.onopen = () => { retry = 0; setState('live'); };
  ws.onmessage = (m) => {
    let e;
    try { e = JSON.parse(m.data); } catch { return; }
    if (e && e.id) handle(e);
  };
  ws.onclose = () => {
    ws = null;
    if (!running) return;
    setState('reconnecting…');
    timer = setTimeout(connect, Math.min(30000, 1000 * 2 ** retry++));
  };
}

/** Starts following events (idempotent), knowing first those already in progress. */
export function start() {
  if (running) return;
  running = true;
  retry = 0;
  connect();
  get('/api/events?limit=200').then((r) => {
    for (const e of r.events || []) if (e.open && !active.has(e.id)) active.set(e.id, e);
    badge();
  }).catch(() => { /* the count starts from what is pushed */ });
}

/** Stops following events and forgets those in progress (on logout). */
export function stop() {
  running = false;
  clearTimeout(timer);
  if (ws) ws.close();
  ws = null;
  active.clear();
  badge();
  setState('off');
}

/** Re-draws the Events link's count (after the navigation was rebuilt). */
export function redraw() { badge(); }
