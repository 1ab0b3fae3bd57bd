// Live video: fragmented MP4 from the camera's WebSocket (GET /api/cameras/{camera}/live) appended into a
// Media Source Extensions buffer. The server sends a text message {"mime": "..."} and then binary
// messages: an init segment (ftyp+moov) and media segments (prft+moof+mdat), one per frame, starting at a
// key frame. The player keeps close to the live edge, trims old buffer, and reconnects with backoff.

import { cam, get } from './api.js';

const MAX_LAG_S = 1.5;      // behind the newest frame by more than this: jump to the live edge
const KEEP_BEHIND_S = 20;   // buffer kept behind the playhead
const NTP_UNIX_OFFSET_S = 2208988800;

/** Wall-clock time (unix ms) in a segment's leading prft box, or null. */
export function prftMillis(buf) {
  if (buf.byteLength < 32) return null;
  const v = new DataView(buf);
  if (v.getUint32(4) !== 0x70726674) return null; // 'prft'
  const secs = v.getUint32(16) - NTP_UNIX_OFFSET_S;
  const frac = v.getUint32(20) / 4294967296;
  return (secs + frac) * 1000;
}

function boxType(buf) {
  if (buf.byteLength < 8) return '';
  const b = new Uint8Array(buf, 4, 4);
  return String.fromCharCode(...b);
}

/** Plays one camera live into a <video>. Call start(), and stop() when the element goes away. */
export class LivePlayer {
  constructor(video, camera, { onState = () => {} } = {}) {
    this.video = video;
    this.camera = camera;
    this.onState = onState;
    this.stopped = true;
    this.retry = 0;
    this.arrivalMs = null;
    this.segments = 0;
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.addEventListener('playing', () => { this.retry = 0; this.onState('playing'); });
    video.addEventListener('canplay', () => { if (!this.stopped) video.play().catch(() => {}); });
  }

  /**
   * Delay from a frame reaching Vigil to its display here: the newest segment's transit time (from its
   * prft wall-clock stamp; both clocks are this machine's on loopback, else they must be in sync) plus
   * how far playback is behind the newest buffered frame. Null before the first frame plays.
   */
  get latencyMs() {
    const v = this.video;
    if (this.arrivalMs === null || !v.buffered.length || v.paused) return null;
    const behind = v.buffered.end(v.buffered.length - 1) - v.currentTime;
    return Math.max(0, this.arrivalMs) + Math.max(0, behind) * 1000;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.teardown();
    this.onState('stopped');
  }

  teardown() {
    if (this.ws) {
      this.ws.onclose = this.ws.onmessage = this.ws.onerror = null;
      try { this.ws.close(); } catch { /* already closed */ }
      this.ws = null;
    }
    this.queue = [];
    this.sb = null;
    if (this.objectUrl) {
      this.video.removeAttribute('src');
      this.video.load();
      URL.revokeObjectURL(this.objectUrl);
      this.objectUrl = null;
    }
    this.ms = null;
  }

  connect() {
    this.teardown();
    this.onState('connecting');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/api/cameras/${cam(this.camera)}/live`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.queue = [];
    this.mime = null;
    this.gotData = false;
    ws.onmessage = (m) => { this.gotData = true; this.message(m.data); };
    ws.onclose = (e) => this.closed(e);
    ws.onerror = () => {};
  }

  message(data) {
    if (typeof data === 'string') {
      let msg;
      try { msg = JSON.parse(data); } catch { return; }
      if (msg.error) { this.onState('error', msg.message || msg.error); return; }
      if (msg.mime) this.setMime(msg.mime);
      return;
    }
    if (boxType(data) === 'prft') {
      const t = prftMillis(data);
      if (t !== null) this.arrivalMs = Date.now() - t;
      this.segments++;
    }
    this.queue.push(data);
    this.pump();
  }

  setMime(mime) {
    if (!window.MediaSource || !MediaSource.isTypeSupported(mime)) {
      this.onState('error', `This browser cannot play ${mime}`);
      return;
    }
    if (this.sb && this.mime !== mime) {
      // New camera parameters: switch codecs in place when possible, else start over.
      if (this.sb.changeType) this.pendingType = mime;
      else { this.connect(); return; }
    }
    this.mime = mime;
    if (this.ms) return;
    const ms = new MediaSource();
    this.ms = ms;
    this.objectUrl = URL.createObjectURL(ms);
    this.video.src = this.objectUrl;
    ms.addEventListener('sourceopen', () => {
      if (this.ms !== ms) return;
      try {
        this.sb = ms.addSourceBuffer(this.mime);
        this.sb.mode = 'segments';
        this.sb.addEventListener('updateend', () => this.pump());
      } catch (e) {
        this.onState('error', e.message);
        return;
      }
      this.pump();
    }, { once: true });
  }

  pump() {
    const sb = this.sb;
    if (!sb || sb.updating || !this.ms || this.ms.readyState !== 'open') return;
    const v = this.video;
    // Stay near the live edge, and keep the buffer small.
    if (v.buffered.length) {
      const end = v.buffered.end(v.buffered.length - 1);
      const start = v.buffered.start(0);
      if (v.currentTime < start || end - v.currentTime > MAX_LAG_S) {
        v.currentTime = Math.max(start, end - 0.3);
      }
      if (v.currentTime - start > KEEP_BEHIND_S * 2) {
        sb.remove(start, v.currentTime - KEEP_BEHIND_S);
        return;
      }
    }
    const next = this.queue.shift();
    if (!next) return;
    if (this.pendingType && boxType(next) === 'ftyp') {
      sb.changeType(this.pendingType);
      this.pendingType = null;
    }
    try {
      sb.appendBuffer(next);
    } catch (e) {
      if (e.name === 'QuotaExceededError') {
        this.queue.unshift(next);
        if (v.buffered.length) sb.remove(v.buffered.start(0), Math.max(v.buffered.start(0) + 0.1, v.currentTime - 1));
        return;
      }
      this.onState('error', e.message);
      this.connect();
      return;
    }
    if (v.paused && v.readyState >= 2) v.play().catch(() => {});
  }

  closed(e) {
    this.ws = null;
    if (this.stopped) return;
    // Refused before any data: maybe the session ended (a 401 from /api/me sends the app to the login).
    if (!this.gotData) get('/api/me').catch(() => {});
    const reason = e && e.code === 1008 ? 'not allowed' : 'disconnected';
    this.onState('offline', reason);
    if (e && e.code === 1008) return; // policy: no permission, do not retry
    const delay = Math.min(30000, 1000 * 2 ** this.retry++);
    this.retryTimer = setTimeout(() => { if (!this.stopped) this.connect(); }, delay);
  }
}
