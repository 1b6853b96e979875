// Mắt Thần admin page: one script, no build step. Each page's section is
// filled by the function named after body[data-page].
'use strict';
const lang = document.body.dataset.lang || 'vi';
const role = document.body.dataset.role || '';
const L = (vi, en) => (lang === 'en' ? en : vi);
const csrf = (document.querySelector('meta[name=csrf]') || {}).content || '';
const $ = (sel, el = document) => el.querySelector(sel);

function fill(el, ...kids) { el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false)); return el; }

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat(Infinity)) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

// pressed is the button clicked in the current event turn: a change that
// handler starts shows it busy (and not pressable again) until it ends.
let pressed = null;
document.addEventListener('click', (ev) => { const b = ev.target.closest && ev.target.closest('button'); if (b) { pressed = b; setTimeout(() => { if (pressed === b) pressed = null; }, 0); } }, true);
function busy(b, on) { if (!b) return; b.disabled = on; if (on) b.setAttribute('aria-busy', 'true'); else b.removeAttribute('aria-busy'); }

// A form sent the classic way (login, setup, logout) shows its button busy
// until the next page comes; a page shown again from the back button is not.
document.addEventListener('submit', (ev) => { const b = ev.target.querySelector('button'); if (b) setTimeout(() => busy(b, true), 0); });
window.addEventListener('pageshow', () => document.querySelectorAll('button[aria-busy]').forEach((b) => busy(b, false)));

async function api(path, opts = {}) {
  const b = opts.method && opts.method !== 'GET' && pressed && !pressed.disabled ? pressed : null;
  busy(b, true);
  try { return await apiCall(path, opts); } finally { busy(b, false); }
}

async function apiCall(path, opts) {
  const o = { credentials: 'same-origin', headers: {}, ...opts };
  if (o.json !== undefined) { o.body = JSON.stringify(o.json); o.headers['Content-Type'] = 'application/json'; delete o.json; }
  if (o.method && o.method !== 'GET') o.headers['X-CSRF-Token'] = csrf;
  const r = await fetch(path, o);
  if (r.status === 401) {
    // The session ended (logout elsewhere, expiry, password change): go to
    // the login page, which says so, instead of failing every few seconds.
    location.assign('/login?ended=1');
    return new Promise(() => {});
  }
  let body = null;
  try { body = await r.json(); } catch (e) { body = {}; }
  if (!r.ok) throw new Error((body && body.error) || r.status + ' ' + r.statusText);
  return body;
}

// Times are shown and read in the box's time zone (data-tz, default
// Asia/Ho_Chi_Minh), whatever zone the phone or PC is set to: what the page
// says agrees with file names, manifests and the audit log.
const boxTZ = (() => { const z = document.body.dataset.tz; try { if (z && z !== 'Local' && z !== 'UTC+7') { Intl.DateTimeFormat('en', { timeZone: z }); return z; } } catch (e) { /* unknown to this browser */ } return undefined; })();
const locale = () => (lang === 'en' ? 'en-GB' : 'vi-VN');
const fmtTime = (t) => new Date(t).toLocaleString(locale(), { hour12: false, timeZone: boxTZ });
// zoneOffset is the box zone's offset from UTC at the instant ms, in ms.
const zoneFmt = boxTZ ? new Intl.DateTimeFormat('en-US', { timeZone: boxTZ, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }) : null;
function zoneOffset(ms) {
  if (!zoneFmt) return -new Date(ms).getTimezoneOffset() * 60000;
  const p = Object.fromEntries(zoneFmt.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
}
// parseLocal reads a date ("2026-12-07") or datetime-local value as a time
// in the box's zone; NaN if empty or malformed.
function parseLocal(v) {
  const naive = Date.parse(v.length <= 10 ? v + 'T00:00:00Z' : v + 'Z');
  if (Number.isNaN(naive)) return NaN;
  const guess = naive - zoneOffset(naive);
  return naive - zoneOffset(guess); // right across a change of offset too
}
// fmtNum writes x with d decimals in the page's language (Vietnamese: 0,5).
const fmtNum = (x, d = 0) => new Intl.NumberFormat(lang === 'en' ? 'en-GB' : 'vi-VN', { minimumFractionDigits: d, maximumFractionDigits: d }).format(x);
const fmtBytes = (n) => { const u = ['B', 'KB', 'MB', 'GB', 'TB']; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return fmtNum(n, i ? 1 : 0) + ' ' + u[i]; };
const fmtSecs = (s) => { s = Math.round(s); const m = Math.floor(s / 60); return (m ? m + L(' phút ', ' min ') : '') + (s % 60) + L(' giây', ' s'); };
// fmtDur: "3 ngày 4 giờ 2 phút", "2 phút" (no "0h02").
const fmtDur = (s) => {
  s = Math.floor(s || 0); const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  const part = (n, vi, en) => (n ? n + ' ' + L(vi, en + (n > 1 ? 's' : '')) : null);
  return [part(d, 'ngày', 'day'), part(hh, 'giờ', 'hour'), d ? null : part(m, 'phút', 'minute')].filter((x) => x).join(' ') || L('dưới 1 phút', 'under a minute');
};
// camLabel names a camera once: "Cổng (cam1)", but "cam1" when it has no other name.
const camLabel = (c) => (c.name && c.name !== c.id ? c.name + ' (' + c.id + ')' : c.id);
// more is a "Chi tiết" toggle holding technical detail.
const more = (...kids) => h('details', { class: 'more' }, h('summary', {}, L('Chi tiết', 'Details')), h('div', { class: 'mono muted' }, ...kids));
// localInput is d as a datetime-local value in the box's zone (with seconds
// when sec, for fields that keep them).
const localInput = (d, sec) => new Date(d.getTime() + zoneOffset(d.getTime())).toISOString().slice(0, sec ? 19 : 16);
function msg(el, text, ok) { el.textContent = text; el.className = ok ? 'notice' : 'error'; }

async function cameras() { return (await api('/api/cameras')).cameras || []; }

function stateBadges(c) {
  const b = [];
  if (c.online) b.push(h('span', { class: 'badge ok' }, L('Trực tuyến', 'Online')));
  else b.push(h('span', { class: 'badge off' }, L('Mất kết nối', 'Offline') + (c.offlineSince ? ' ' + L('từ ', 'since ') + fmtTime(c.offlineSince) : '')));
  if (c.recording) b.push(h('span', { class: 'badge rec' }, '● ' + L('Đang ghi', 'Rec')));
  if (c.motionNow) b.push(h('span', { class: 'badge motion' }, L('Chuyển động', 'Motion')));
  if (c.recordAudio) b.push(h('span', { class: 'badge audio', title: L('Camera này ghi cả âm thanh', 'This camera records sound too') }, '🎙 ' + L('Ghi âm thanh', 'Recording sound')));
  return b;
}

// ---------- live player: fMP4 over WebSocket into Media Source Extensions ----------
window.mtLive = {};
class LivePlayer {
  // signalEl (optional) is the tile's "no signal" overlay: shown over the
  // greyed last picture, with its time, when the stream ended or the
  // picture has not moved for 3 s, whatever the camera's state says.
  constructor(video, camera, msgEl, signalEl, viaEl) {
    this.video = video; this.camera = camera; this.msgEl = msgEl; this.signalEl = signalEl; this.viaEl = viaEl;
    this.queue = []; this.sb = null; this.ms = null; this.unsupported = false;
    this.stats = { camera, openedAt: 0, firstFrameMs: null, epochMs: 0, noSignal: false, stalls: 0, resumedAt: null, lastPictureMs: null };
    window.mtLive[camera] = this.stats;
    this.stats.latencyMs = () => this.stats.epochMs ? Date.now() - (this.stats.epochMs + this.video.currentTime * 1000) : null;
    this.idle = true; this.lastT = -1; this.movedAt = performance.now(); this.endedNow = false;
    if (signalEl) this.watch = setInterval(() => this.check(), 500);
  }
  // check runs twice a second: has the picture moved since the last look?
  check() {
    const v = this.video, now = performance.now();
    if (this.idle || !document.body.contains(v)) { this.movedAt = now; return; }
    // A WebRTC video's clock runs on without pictures: count the frames shown.
    const pos = this.rtc ? this.frames : v.currentTime;
    if (pos !== this.lastT && v.readyState >= 2 && !this.endedNow) {
      this.lastT = pos; this.movedAt = now;
      if (this.stats.epochMs) this.stats.lastPictureMs = this.stats.epochMs + v.currentTime * 1000;
      if (this.stats.noSignal) { this.stats.noSignal = false; this.stats.resumedAt = Date.now(); this.showSignal(false); }
      return;
    }
    if (!this.stats.noSignal && (this.endedNow || now - this.movedAt > 3000)) { this.stats.noSignal = true; this.stats.stalls++; this.stats.lostAt = Date.now(); this.showSignal(true); }
  }
  showSignal(lost) {
    const el = this.signalEl; if (!el) return;
    const tile = el.parentElement; if (tile) tile.classList.toggle('nosignal', lost);
    const v = this.video;
    const t = this.stats.lastPictureMs || (this.stats.epochMs && v.currentTime > 0 ? this.stats.epochMs + v.currentTime * 1000 : this.stats.lastDataAt);
    fill(el, h('b', {}, L('Mất tín hiệu', 'No signal')), t ? h('span', {}, L('Hình cuối lúc ', 'Last picture at ') + new Date(t).toLocaleTimeString(locale(), { hour12: false, timeZone: boxTZ })) : null);
    el.hidden = !lost;
    if (lost) this.say('');
  }
  ended() { this.endedNow = true; this.check(); }
  // via shows how the picture comes: WebRTC (RTP, lowest delay) or MSE
  // (fMP4 over the WebSocket, the fallback).
  via(name) {
    this.stats.via = name;
    if (this.viaEl) { this.viaEl.textContent = name; this.viaEl.title = name === 'WebRTC' ? L('Xem trực tiếp qua WebRTC (độ trễ thấp)', 'Live over WebRTC (low delay)') : L('Xem trực tiếp qua MSE (dự phòng)', 'Live over MSE (fallback)'); this.viaEl.hidden = false; }
  }
  // soundOn shows the tile's sound button: the camera's sound comes with
  // its picture (muted until a tap: browsers play sound only after one).
  soundOn() { if (this.soundEl) this.soundEl.hidden = false; }
  soundOff() { if (this.soundEl) { this.soundEl.hidden = true; this.video.muted = true; this.soundEl.textContent = '🔇'; } }
  // attachRTC plays a WebRTC track. Its frames' RTP timestamps are the
  // box's clock (90 kHz, modulo 2^32): the picture's time, and so the
  // latency, come from each frame shown.
  attachRTC(stream) {
    const v = this.video;
    this.stats.trackAt = this.stats.trackAt || performance.now();
    this.rtc = stream; this.ms = null; this.sb = null; this.queue = []; this.unsupported = false; this.endedNow = false; this.lastT = -1;
    this.stats.epochMs = 0; this.stats.latency = null;
    this.stats.latencyMs = () => this.stats.latency;
    if (v.src) { v.removeAttribute('src'); v.load(); }
    v.srcObject = stream;
    v.play().catch(() => {});
    const onFrame = (now, md) => {
      if (this.rtc !== stream || v.srcObject !== stream) return;
      this.frames = (this.frames || 0) + 1;
      if (md && md.rtpTimestamp !== undefined) {
        const t = boxTimeOfRTP(md.rtpTimestamp);
        this.stats.lastPictureMs = t; this.stats.latency = Date.now() - t;
      }
      if (this.stats.firstFrameMs === null) { this.stats.firstFrameAt = performance.now(); this.stats.firstFrameMs = this.stats.firstFrameAt - this.stats.openedAt; this.say(''); }
      v.requestVideoFrameCallback(onFrame);
    };
    if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(onFrame);
    else v.addEventListener('playing', () => { if (this.stats.firstFrameMs === null) { this.stats.firstFrameAt = performance.now(); this.stats.firstFrameMs = this.stats.firstFrameAt - this.stats.openedAt; this.say(''); } }, { once: true });
  }
  // start opens a connection for this player alone.
  start() { this.conn = new LiveConn([this], this.sub); this.conn.start(); }
  feed(u8) { if (this.unsupported || (!this.sb && !this.ms)) return; this.stats.lastDataAt = Date.now(); this.queue.push(u8); this.pump(); }
  say(t) { if (this.msgEl) { this.msgEl.textContent = t; this.msgEl.hidden = !t; } }
  setup(st) {
    this.rtc = null; this.soundOff();
    if (this.video.srcObject) this.video.srcObject = null;
    this.stats.latencyMs = () => this.stats.epochMs ? Date.now() - (this.stats.epochMs + this.video.currentTime * 1000) : null;
    this.stats.epochMs = st.epochMs; this.stats.codec = st.codec; this.endedNow = false; this.lastT = -1;
    if (!window.MediaSource || !MediaSource.isTypeSupported(st.mime)) {
      const hevc = st.codec.startsWith('hvc1') || st.codec.startsWith('hev1');
      this.say(hevc ? L('Trình duyệt này không phát được H.265 (' + st.codec + '). Hãy dùng Chrome/Edge/Safari mới, hoặc đặt camera sang H.264.', 'This browser cannot play H.265 (' + st.codec + '). Use a recent Chrome/Edge/Safari, or set the camera to H.264.')
        : L('Trình duyệt không hỗ trợ ' + st.mime, 'The browser does not support ' + st.mime));
      this.unsupported = true; return;
    }
    this.queue = []; this.sb = null;
    const ms = new MediaSource(); this.ms = ms;
    this.video.src = URL.createObjectURL(ms);
    ms.addEventListener('sourceopen', () => {
      this.sb = ms.addSourceBuffer(st.mime); this.sb.mode = 'segments';
      this.sb.addEventListener('updateend', () => { this.chase(); this.pump(); });
      this.pump();
    }, { once: true });
    const onFrame = () => {
      if (this.stats.firstFrameMs === null) { this.stats.firstFrameAt = performance.now(); this.stats.firstFrameMs = this.stats.firstFrameAt - this.stats.openedAt; this.say(''); }
    };
    if (this.video.requestVideoFrameCallback) this.video.requestVideoFrameCallback(onFrame);
    else this.video.addEventListener('playing', onFrame, { once: true });
  }
  pump() {
    const sb = this.sb;
    if (!sb || sb.updating || !this.queue.length) return;
    let n = 0; for (const q of this.queue) n += q.length;
    const buf = new Uint8Array(n); let o = 0;
    for (const q of this.queue) { buf.set(q, o); o += q.length; }
    this.queue = [];
    try { sb.appendBuffer(buf); } catch (e) { this.say(String(e)); }
  }
  chase() {
    const v = this.video, b = v.buffered;
    if (!b.length) return;
    const end = b.end(b.length - 1), start = b.start(b.length - 1);
    if (this.stats.firstFrameMs === null) {
      // Show the key frame at once (it needs one decode), catch up after.
      if (v.currentTime < start) v.currentTime = start;
      if (v.paused) v.play().catch(() => {});
      return;
    }
    if (v.currentTime < start || end - v.currentTime > 1.2) v.currentTime = Math.max(start, end - 0.15);
    v.playbackRate = end - v.currentTime > 0.4 ? 1.1 : 1.0;
    if (v.paused) v.play().catch(() => {});
    if (!this.sb.updating && v.currentTime - b.start(0) > 20) { try { this.sb.remove(0, v.currentTime - 10); } catch (e) { } }
  }
  close() { if (this.conn) this.conn.close(); if (this.watch) clearInterval(this.watch); }
}

// LiveConn carries one or more cameras over one WebSocket (the wall opens
// one socket, not one per tile): text messages start camera i, binary
// messages carry camera i's data after a first byte i.
class LiveConn {
  constructor(players, sub) { this.players = players; this.sub = sub; this.closed = false; }
  start() {
    if (this.closed) return;
    const t0 = performance.now();
    for (const p of this.players) { p.stats.openedAt = t0; p.sb = null; p.ms = null; p.queue = []; p.idle = false; p.stats.stream = this.sub ? 'sub' : 'main'; p.via('MSE'); }
    const ids = this.players.map((p) => p.camera);
    const q = (ids.length === 1 ? '/api/live/' + encodeURIComponent(ids[0]) + '?' : '/api/live?' + ids.map((c) => 'camera=' + encodeURIComponent(c)).join('&') + '&') + (this.sub ? 'stream=sub' : '');
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + q);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => { for (const p of this.players) p.stats.wsOpenAt = performance.now(); };
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') {
        const m = JSON.parse(ev.data); const p = this.players[m.index];
        if (m.type === 'start' && p) { p.stats.startAt = performance.now(); p.setup(m); }
        if (m.type === 'ended' && p) p.ended();
        return;
      }
      const u8 = new Uint8Array(ev.data); const p = this.players[u8[0]];
      if (p) p.feed(u8.subarray(1));
    };
    ws.onclose = (ev) => {
      for (const p of this.players) p.stats.closes = (p.stats.closes || []).concat([ev.code]);
      if (this.closed) return;
      for (const p of this.players) p.say(L('Mất kết nối, đang thử lại…', 'Disconnected, retrying…'));
      // A closed stream may mean the session ended: api() then goes to the login page.
      const retry = () => setTimeout(() => this.start(), 2000);
      api('/api/me').then(retry, retry);
    };
  }
  close() { this.closed = true; for (const p of this.players) p.idle = true; if (this.ws) this.ws.close(); }
}

// boxTimeOfRTP is the box time (ms) of a WebRTC frame: the box stamps
// each frame with its clock in 90 kHz ticks modulo 2^32 (13.25 h); the
// frame's time is the one nearest now (a camera's clock slewed onto the
// box's may run a little ahead of it).
function boxTimeOfRTP(ts) {
  const now = Date.now(), M = 4294967296;
  let back = (((Math.round(now * 90) - ts) % M) + M) % M;
  if (back > M / 2) back -= M;
  return now - back / 90;
}

// liveMode: ?live=mse or ?live=webrtc on the page's address forces one way
// (kept for the next pages); auto (the default) tries WebRTC, then MSE.
function liveMode() {
  const q = new URLSearchParams(location.search).get('live');
  if (q === 'mse' || q === 'webrtc' || q === 'auto') { try { localStorage.setItem('mtLiveMode', q); } catch (e) { } return q; }
  try { return localStorage.getItem('mtLiveMode') || 'auto'; } catch (e) { return 'auto'; }
}

// RTCConn carries one or more cameras over one WebRTC peer connection:
// one receive-only video m-line per camera, the offer sent to the box
// (POST /api/webrtc), which answers with its address on its one UDP port.
// If that does not connect within 2.5 s (UDP blocked), or the box refuses
// (an H.265 camera, too many viewers), onFail gets the players: they go
// over MSE. A connection lost later is tried again (after asking the box
// whether the login still holds: if not, the login page).
class RTCConn {
  constructor(players, sub, onFail) { this.players = players; this.sub = sub; this.onFail = onFail; this.closed = false; this.failed = false; }
  async start() {
    if (this.closed || this.failed) return;
    const t0 = performance.now();
    for (const p of this.players) { p.stats.openedAt = t0; p.idle = false; p.stats.stream = this.sub ? 'sub' : 'main'; p.via('WebRTC'); }
    let pc;
    try { pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle' }); } catch (e) { this.fail('no RTCPeerConnection: ' + e); return; }
    this.pc = pc;
    window.mtRTC = pc; // the newest connection (tests read its stats)
    const trs = this.players.map(() => pc.addTransceiver('video', { direction: 'recvonly' }));
    // One camera alone: its sound too (G.711, where its sound switch is on); the wall is silent.
    const atr = this.players.length === 1 ? pc.addTransceiver('audio', { direction: 'recvonly' }) : null;
    // The offer names H.264 alone (and G.711 for sound): the box forwards
    // nothing else, and an offer with all the browser's codecs is 5 KB a
    // camera for the box to read.
    const only = (kind, re) => { try { const cs = RTCRtpReceiver.getCapabilities(kind).codecs.filter((c) => re.test(c.mimeType)); return cs.length ? cs : null; } catch (e) { return null; } };
    const h264 = only('video', /^video\/H264$/i), g711 = only('audio', /^audio\/PCM[AU]$/i);
    for (const t of trs) {
      try { t.receiver.jitterBufferTarget = 0; } catch (e) { } try { t.receiver.playoutDelayHint = 0; } catch (e) { }
      if (h264 && t.setCodecPreferences) try { t.setCodecPreferences(h264); } catch (e) { }
    }
    if (atr && g711 && atr.setCodecPreferences) try { atr.setCodecPreferences(g711); } catch (e) { }
    const streams = this.players.map(() => new MediaStream());
    pc.ontrack = (ev) => {
      if (atr && ev.transceiver === atr) {
        // The button shows with the first sound that comes (none comes when the box has no sound for it).
        streams[0].addTrack(ev.track);
        if (!ev.track.muted) this.players[0].soundOn();
        ev.track.addEventListener('unmute', () => { if (this.pc === pc) this.players[0].soundOn(); }, { once: true });
        return;
      }
      const i = trs.indexOf(ev.transceiver), p = this.players[i];
      if (p) { streams[i].addTrack(ev.track); p.attachRTC(streams[i]); }
    };
    let connected = false;
    const mine = () => !this.closed && !this.failed && this.pc === pc;
    this.timer = setTimeout(() => { if (!connected && mine()) this.fail('no connection in 2.5 s'); }, 2500);
    const down = () => { if (!mine()) return; if (connected) this.lost(); else this.fail('connection ' + pc.connectionState); };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (s === 'connected') { connected = true; clearTimeout(this.timer); this.started = true; for (const p of this.players) p.stats.connectedAt = performance.now(); }
      if (s === 'failed' || s === 'disconnected' || s === 'closed') down();
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      // The box answers from its own candidates: the browser's (often mDNS
      // names) are not needed, the box learns its address from the checks.
      const ids = this.players.map((p) => p.camera);
      const q = (ids.length === 1 ? '/api/webrtc/' + encodeURIComponent(ids[0]) + '?' : '/api/webrtc?' + ids.map((c) => 'camera=' + encodeURIComponent(c)).join('&') + '&') + (this.sub ? 'stream=sub' : '');
      for (const p of this.players) p.stats.offerAt = performance.now();
      const r = await fetch(q, { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ sdp: pc.localDescription.sdp }) });
      if (r.status === 401) { location.assign('/login?ended=1'); return; }
      if (!r.ok) { let b = {}; try { b = await r.json(); } catch (e) { } if (mine()) this.fail(r.status + ' ' + (b.error || '')); return; }
      const a = await r.json();
      if (!mine()) return;
      for (const p of this.players) p.stats.answerAt = performance.now();
      await pc.setRemoteDescription({ type: 'answer', sdp: a.sdp });
      // The box closing its side (the login ended) shows on the DTLS transport first.
      const dtls = trs[0].receiver.transport;
      if (dtls) dtls.addEventListener('statechange', () => { if (dtls.state === 'closed' || dtls.state === 'failed') down(); });
    } catch (e) { if (mine()) this.fail(String(e)); }
  }
  fail(why) {
    if (this.failed || this.closed) return;
    this.failed = true; clearTimeout(this.timer);
    if (this.pc) this.pc.close();
    window.mtLiveFallback = why;
    for (const p of this.players) { p.rtc = null; p.stats.fallback = why; p.soundOff(); }
    this.onFail(this.players, why);
  }
  lost() {
    if (this.pc) { this.pc.close(); this.pc = null; }
    for (const p of this.players) p.say(L('Mất kết nối, đang thử lại…', 'Disconnected, retrying…'));
    const retry = () => setTimeout(() => this.start(), 1000);
    api('/api/me').then(retry, retry);
  }
  close() { this.closed = true; clearTimeout(this.timer); for (const p of this.players) { p.idle = true; p.rtc = null; p.soundOff(); } if (this.pc) this.pc.close(); }
}

// openLive shows players' cameras: over WebRTC where it can (H.264, a
// browser with WebRTC, not switched off), over MSE for the rest and as the
// fallback.
function openLive(players, sub) {
  const conns = [];
  const mse = (ps) => { if (!ps.length) return; const c = new LiveConn(ps, sub); conns.push(c); c.start(); };
  const mode = liveMode();
  const rtcOK = mode !== 'mse' && typeof RTCPeerConnection === 'function';
  const viaRTC = rtcOK ? players.filter((p) => !/265|hevc|hvc/i.test(p.codec || '')) : [];
  mse(players.filter((p) => !viaRTC.includes(p)));
  if (viaRTC.length) { const c = new RTCConn(viaRTC, sub, (ps) => mse(ps)); conns.push(c); c.start(); }
  return { close: () => { for (const c of conns) c.close(); } };
}

// snapshot saves the frame the browser shows as a PNG named after the camera
// and the local time of the picture. Not audited on its own: it is a save
// of a picture the viewer already receives (the live view is audited), and
// the browser could keep it anyway.
function snapshot(video, name, pictureMs) {
  if (!video.videoWidth) return false;
  const cv = document.createElement('canvas'); cv.width = video.videoWidth; cv.height = video.videoHeight;
  cv.getContext('2d').drawImage(video, 0, 0);
  const at = localInput(new Date(pictureMs || Date.now()), true); // the box's local time
  const file = (name.replace(/[^\p{L}\p{N}_-]+/gu, '-') || 'camera') + '_' + at.slice(0, 10) + '_' + at.slice(11).replace(/:/g, '-') + '.png';
  cv.toBlob((b) => { const a = h('a', { href: URL.createObjectURL(b), download: file }); document.body.append(a); a.click(); a.remove(); setTimeout(() => URL.revokeObjectURL(a.href), 10000); }, 'image/png');
  return file;
}

// pinchZoom lets two fingers zoom the live picture (up to 4x, a CSS
// transform) and one finger move it while zoomed; a double tap resets.
function pinchZoom(video) {
  let z = { s: 1, x: 0, y: 0 }, g = null, lastTap = 0;
  const apply = () => { video.style.transform = z.s > 1 ? `translate(${z.x}px,${z.y}px) scale(${z.s})` : ''; video.style.touchAction = z.s > 1 ? 'none' : 'pan-x pan-y'; video.dataset.zoom = z.s.toFixed(2); };
  const dist = (t) => Math.hypot(t[0].clientX - t[1].clientX, t[0].clientY - t[1].clientY);
  video.addEventListener('touchstart', (e) => {
    if (e.touches.length === 2) g = { d: dist(e.touches), s: z.s };
    else if (e.touches.length === 1) {
      if (performance.now() - lastTap < 300) { z = { s: 1, x: 0, y: 0 }; apply(); }
      lastTap = performance.now(); g = { px: e.touches[0].clientX - z.x, py: e.touches[0].clientY - z.y };
    }
  }, { passive: true });
  video.addEventListener('touchmove', (e) => {
    if (!g) return;
    if (e.touches.length === 2 && g.d) { z.s = Math.min(4, Math.max(1, g.s * dist(e.touches) / g.d)); if (z.s === 1) z.x = z.y = 0; apply(); e.preventDefault(); }
    else if (e.touches.length === 1 && z.s > 1 && g.px !== undefined) { z.x = e.touches[0].clientX - g.px; z.y = e.touches[0].clientY - g.py; apply(); e.preventDefault(); }
  }, { passive: false });
  video.addEventListener('touchend', () => { g = null; });
  apply();
}

function liveTile(c) {
  const video = h('video', { muted: true, autoplay: true, playsinline: true, 'data-camera': c.id });
  video.muted = true;
  const m = h('div', { class: 'msg' }, L('Đang kết nối…', 'Connecting…'));
  const sig = h('div', { class: 'signal', hidden: true });
  const via = h('span', { class: 'via', hidden: true });
  const soundLabel = () => (video.muted ? L('Bật tiếng', 'Sound on') : L('Tắt tiếng', 'Sound off'));
  const sound = h('button', { type: 'button', class: 'sound', hidden: true, title: L('Bật tiếng', 'Sound on'), 'aria-label': L('Bật tiếng', 'Sound on'),
    onclick: () => { video.muted = !video.muted; sound.textContent = video.muted ? '🔇' : '🔊'; sound.title = soundLabel(); sound.setAttribute('aria-label', soundLabel()); } }, '🔇');
  const tools = h('div', { class: 'tools' }, sound,
    h('button', { type: 'button', class: 'snap', title: L('Chụp ảnh', 'Snapshot'), 'aria-label': L('Chụp ảnh', 'Snapshot'), onclick: () => { tile.lastSnapshot = snapshot(video, c.name, tile.player.stats.lastPictureMs); } }, '📷'),
    h('button', { type: 'button', class: 'full', title: L('Toàn màn hình', 'Full screen'), 'aria-label': L('Toàn màn hình', 'Full screen'), onclick: () => (document.fullscreenElement ? document.exitFullscreen() : tile.requestFullscreen()).catch(() => {}) }, '⛶'));
  const tile = h('div', { class: 'tile', id: 'tile-' + c.id }, video, h('div', { class: 'cap' }, h('b', {}, c.name), ...stateBadges(c)), via, m, sig, tools);
  tile.player = new LivePlayer(video, c.id, m, sig, via);
  tile.player.soundEl = sound;
  tile.player.codec = c.codec || '';
  pinchZoom(video);
  return tile;
}

const pages = {};
pages.live = async (root) => {
  window.mtWallT = { pageAt: performance.now() }; // the timeline the bench prints
  const cams = (await cameras()).filter((c) => c.video);
  window.mtWallT.camerasAt = performance.now();
  const want = new URLSearchParams(location.search).get('camera');
  const list = want ? cams.filter((c) => c.id === want) : cams;
  const wall = h('div', { class: 'wall', id: 'wall' });
  root.append(h('h1', {}, L('Xem trực tiếp', 'Live view')), wall);
  if (!list.length) wall.append(h('p', { class: 'muted' }, L('Không có camera nào.', 'No cameras.')));
  // A wall of n cameras fits the screen: ceil(sqrt(n)) columns on wide
  // screens (16 cameras: 4x4), one column on a phone.
  const layout = () => {
    if (window.innerWidth <= 700 || list.length < 2) { wall.style.gridTemplateColumns = ''; wall.style.maxWidth = ''; return; }
    const cols = Math.ceil(Math.sqrt(list.length)), rows = Math.ceil(list.length / cols);
    wall.style.gridTemplateColumns = `repeat(${cols}, 1fr)`;
    wall.style.maxWidth = `calc((100vh - 7rem) * ${(16 / 9) * cols / rows})`;
  };
  layout(); window.addEventListener('resize', layout);
  // More than four tiles, or a phone: each plays its camera's sub stream (as
  // NVR walls do); a tile in full screen plays its main stream alone.
  const tiles = list.map((c) => liveTile(c));
  wall.append(...tiles);
  let conn = null;
  const connect = () => {
    if (conn) conn.close();
    const fs = tiles.find((t) => t === document.fullscreenElement);
    conn = fs ? openLive([fs.player], false) : openLive(tiles.map((t) => t.player), list.length > 4 || window.innerWidth <= 700);
  };
  if (tiles.length) { connect(); document.addEventListener('fullscreenchange', connect); }
  setInterval(async () => {
    for (const c of await cameras()) {
      const t = document.getElementById('tile-' + c.id); if (!t) continue;
      const cap = $('.cap', t); fill(cap, h('b', {}, c.name), ...stateBadges(c));
    }
  }, 5000);
};

// ---------- playback ----------
// codecOf reads the MSE type from an init segment (the avcC/hvcC box).
function codecOf(u8) {
  const find = (tag) => { for (let i = 4; i + 8 < u8.length; i++) if (u8[i] === tag.charCodeAt(0) && u8[i + 1] === tag.charCodeAt(1) && u8[i + 2] === tag.charCodeAt(2) && u8[i + 3] === tag.charCodeAt(3)) return i + 4; return -1; };
  const hx = (b) => b.toString(16).padStart(2, '0');
  let i = find('avcC');
  // AAC sound (an 'mp4a' track) plays in MSE and is declared; LPCM sound
  // is taken out by the box before it gets here (MSE has no LPCM).
  const aac = find('mp4a') > 0 ? ',mp4a.40.2' : '';
  if (i > 0) return 'video/mp4; codecs="avc1.' + hx(u8[i + 1]) + hx(u8[i + 2]) + hx(u8[i + 3]) + aac + '"';
  i = find('hvcC');
  if (i > 0) return 'video/mp4; codecs="hvc1.' + (u8[i + 1] & 0x1f) + '.6.L' + u8[i + 12] + '.B0' + aac + '"';
  return 'video/mp4; codecs="avc1.640028' + aac + '"';
}

pages.playback = async (root) => {
  const cams = (await cameras()).filter((c) => c.video);
  const qs = new URLSearchParams(location.search);
  const sel = h('select', { id: 'pb-camera' }, cams.map((c) => h('option', { value: c.id }, camLabel(c))));
  if (qs.get('camera')) sel.value = qs.get('camera');
  const t0 = qs.get('t') ? new Date(+qs.get('t')) : new Date();
  const day = h('input', { type: 'date', id: 'pb-day', value: localInput(t0).slice(0, 10) });
  const speed = h('select', { id: 'pb-speed' }, [1, 2, 4, 8, 16].map((s) => h('option', { value: s }, s + 'x')));
  const prevB = h('button', { id: 'pb-prev', class: 'secondary' }, '⏮ ' + L('Sự kiện trước', 'Previous event'));
  const nextB = h('button', { id: 'pb-next', class: 'secondary' }, L('Sự kiện sau', 'Next event') + ' ⏭');
  const timeIn = h('input', { type: 'time', id: 'pb-time', step: 1 });
  const goB = h('button', { id: 'pb-go', class: 'secondary' }, L('Đến', 'Go'));
  const zoomOut = h('button', { id: 'pb-zoom-out', class: 'secondary', 'aria-label': L('Thu nhỏ', 'Zoom out') }, '−');
  const zoomIn = h('button', { id: 'pb-zoom-in', class: 'secondary', 'aria-label': L('Phóng to', 'Zoom in') }, '+');
  const spanLabel = h('span', { id: 'pb-span', class: 'muted' });
  const panL = h('button', { id: 'pb-pan-left', class: 'secondary', 'aria-label': L('Lùi', 'Earlier') }, '◀'), panR = h('button', { id: 'pb-pan-right', class: 'secondary', 'aria-label': L('Tới', 'Later') }, '▶');
  const canvas = h('canvas', { class: 'timeline', id: 'pb-timeline', height: 56, width: 1200 });
  const video = h('video', { id: 'pb-video', controls: true, muted: true, playsinline: true });
  const clock = h('div', { id: 'pb-clock', class: 'mono' }, '');
  const info = h('p', { id: 'pb-info', class: 'muted' });
  const note = h('p', { id: 'pb-msg', hidden: true });
  const fromL = h('span', { id: 'pb-from' }, '00:00'), toL = h('span', { class: 'push', id: 'pb-to' }, '24:00');
  // A plain clip of up to 10 minutes from the time shown (audited as a
  // download; the signed evidence export is the officers' export page).
  const clipLen = h('select', { id: 'pb-clip-len' }, [1, 2, 5, 10].map((m) => h('option', { value: m }, m + ' ' + L('phút', 'min'))));
  const clipB = h('button', { id: 'pb-clip', class: 'secondary' }, '⬇ ' + L('Tải đoạn video', 'Download clip'));
  const clipMsg = h('span', { id: 'pb-clip-msg', class: 'muted' });
  const evList = h('div', { id: 'pb-events', class: 'events' });
  root.append(h('h1', {}, L('Xem lại', 'Playback')),
    h('div', { class: 'card' }, h('div', { class: 'row' }, h('label', {}, 'Camera', sel), h('label', {}, L('Ngày', 'Day'), day), h('label', {}, L('Giờ', 'Time'), timeIn), goB, h('label', {}, L('Tốc độ', 'Speed'), speed), prevB, nextB),
      h('div', { class: 'row' }, zoomOut, zoomIn, panL, panR, spanLabel), canvas, h('div', { class: 'row muted' }, fromL, toL), info),
    h('div', { class: 'card player' }, note, video, clock, h('div', { class: 'row' }, h('label', {}, L('Độ dài', 'Length'), clipLen), clipB, clipMsg)),
    h('div', { class: 'card' }, h('h2', {}, L('Sự kiện trong ngày', 'Events of the day')), evList));
  let segs = [], evs = [], cur = null, dayStart = 0;
  const DAY = 86400000;
  // The timeline shows span ms from viewStart: 24 h, 1 h or 5 min (buttons),
  // anything between with two fingers.
  const SPANS = [DAY, 3600000, 300000];
  let span = DAY, viewStart = 0;
  const say = (t) => { note.textContent = t || ''; note.hidden = !t; note.className = t ? 'error' : ''; };
  const hm = (t, sec) => new Date(t).toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit', second: sec ? '2-digit' : undefined, hour12: false, timeZone: boxTZ });
  const setView = (center, sp) => {
    span = Math.min(DAY, Math.max(SPANS[2], sp));
    viewStart = Math.min(dayStart + DAY - span, Math.max(dayStart, center - span / 2));
    spanLabel.textContent = span >= DAY ? '24 ' + L('giờ', 'h') : span >= 3600000 ? Math.round(span / 360000) / 10 + ' ' + L('giờ', 'h') : Math.round(span / 60000) + ' ' + L('phút', 'min');
    fromL.textContent = span >= DAY ? '00:00' : hm(viewStart, span < 3600000);
    toL.textContent = span >= DAY ? '24:00' : hm(viewStart + span, span < 3600000);
    draw();
  };
  const load = async () => {
    dayStart = parseLocal(day.value);
    const q = 'camera=' + encodeURIComponent(sel.value) + '&from=' + dayStart + '&to=' + (dayStart + DAY);
    try {
      segs = (await api('/api/segments?' + q)).segments.map((s) => ({ ...s, s: Date.parse(s.start), e: Date.parse(s.end) }));
      evs = ((await api('/api/events?' + q)).events || []).map((e) => ({ ...e, s: Date.parse(e.start) })).sort((a, b) => a.s - b.s);
      const unsynced = segs.filter((x) => x.clockUnsynced).length;
      info.textContent = segs.length + L(' đoạn ghi, ', ' segments, ') + evs.length + L(' sự kiện', ' events') +
        (unsynced ? L(' · ' + unsynced + ' đoạn ghi khi đồng hồ chưa đồng bộ (tím: giờ có thể sai)', ' · ' + unsynced + ' recorded while the clock was not synchronised (purple: times may be off)') : '');
    } catch (e) { msg(info, e.message); segs = []; evs = []; }
    setView(viewStart + span / 2, span);
    fill(evList, evs.length ? [...evs].reverse().slice(0, 200).map((e) => h('button', { type: 'button', class: 'secondary event', 'data-t': e.s, onclick: () => seek(e.s - 2000) }, hm(e.s, true) + ' · ' + typeName(e.type))) : h('p', { class: 'muted' }, L('Không có sự kiện.', 'No events.')));
  };
  const X = (t, w) => (t - viewStart) / span * w;
  const draw = () => {
    const w = canvas.width = canvas.clientWidth || 1200, hh = canvas.height; const g = canvas.getContext('2d');
    g.fillStyle = '#e8eaf2'; g.fillRect(0, 0, w, hh);
    for (const s of segs) if (s.e > viewStart && s.s < viewStart + span) { g.fillStyle = s.clockUnsynced ? '#8e44ad' : '#4a7bd0'; g.fillRect(X(s.s, w), 10, Math.max(1, (s.e - s.s) / span * w), hh - 20); }
    g.fillStyle = '#e08a00'; for (const e of evs) g.fillRect(X(e.s, w) - 1, 0, 3, 12);
    const tick = span >= DAY ? 3 * 3600000 : span >= 3600000 ? 600000 : 60000;
    g.fillStyle = '#999'; for (let t = Math.ceil(viewStart / tick) * tick; t <= viewStart + span; t += tick) g.fillRect(X(t, w), hh - 6, 1, 6);
    const t = nowT(); if (t) { g.fillStyle = '#b3261e'; g.fillRect(X(t, w) - 1, 0, 2, hh); }
  };
  const nowT = () => (cur ? cur.s + video.currentTime * 1000 : null);
  // The player: Media Source Extensions fed with the fragments from the
  // tapped time on (/api/recordings/...?from=), a few seconds at a time.
  const P = { gen: 0, ms: null, sb: null, seg: null, fetched: 0, segEnd: 0, busy: false, tapAt: 0, firstFrameMs: null };
  const url = (s) => '/api/recordings/' + encodeURIComponent(sel.value) + '/' + encodeURIComponent(s.file);
  const append = (sb, buf) => new Promise((res, rej) => { sb.addEventListener('updateend', res, { once: true }); sb.addEventListener('error', rej, { once: true }); sb.appendBuffer(buf); });
  // audioNote says what happens to the recording's sound: AAC plays here;
  // G.711 was recorded as LPCM, which browsers' MSE cannot play.
  const audioInfo = h('p', { class: 'muted', id: 'pb-audio' });
  const audioNote = (a) => {
    if (!audioInfo.isConnected) root.append(audioInfo);
    audioInfo.textContent = !a ? '' : a === 'mp4a' ? L('Có âm thanh (AAC).', 'With sound (AAC).')
      : L('Đoạn này có ghi âm thanh (G.711, lưu dạng LPCM) nhưng trình duyệt không phát được loại này: hãy xuất đoạn phim và mở bằng VLC để nghe.', 'This recording has sound (G.711, kept as LPCM) that browsers cannot play: export the clip and open it in VLC to hear it.');
  };
  const getPiece = async (s, from, dur, next) => {
    const r = await fetch(url(s) + '?from=' + from.toFixed(3) + '&for=' + dur + (next ? '&next=1' : ''), { credentials: 'same-origin' });
    if (r.status === 401) { location.assign('/login?ended=1'); return null; }
    if (r.status === 404) throw Object.assign(new Error('gone'), { gone: true });
    if (r.status === 416) return { past: true };
    if (!r.ok) throw new Error(r.status + ' ' + r.statusText);
    audioNote(r.headers.get('X-Audio'));
    return { buf: new Uint8Array(await r.arrayBuffer()), start: +r.headers.get('X-Media-Start'), end: +r.headers.get('X-Media-End'), segEnd: +r.headers.get('X-Segment-End') };
  };
  const gone = () => say(L('Đoạn video này không còn nữa (đã bị xoá vì hết thời hạn lưu hoặc ổ đầy).', 'This video is gone (deleted at the end of its retention or when the disk filled).'));
  const play = async (s, off) => {
    const my = ++P.gen; P.tapAt = performance.now(); P.firstFrameMs = null;
    cur = s; P.seg = s; P.busy = true; say('');
    if (!window.MediaSource) { // no MSE (older iPhones): the whole file, by range requests
      P.sb = null; P.busy = false; video.src = url(s);
      video.addEventListener('loadedmetadata', () => { video.currentTime = off; video.playbackRate = +speed.value; video.play().catch(() => {}); }, { once: true });
      video.addEventListener('error', () => { if (my === P.gen) gone(); }, { once: true });
      return;
    }
    try {
      const piece = await getPiece(s, off, 3, false);
      if (my !== P.gen || !piece) return;
      if (piece.past) { const i = segs.indexOf(s); if (i >= 0 && i + 1 < segs.length) play(segs[i + 1], 0); else say(L('Không có bản ghi từ thời điểm này.', 'Nothing recorded from this time on.')); return; }
      const ms = new MediaSource(); P.ms = ms;
      video.src = URL.createObjectURL(ms);
      await new Promise((res) => ms.addEventListener('sourceopen', res, { once: true }));
      if (my !== P.gen) return;
      const sb = ms.addSourceBuffer(codecOf(piece.buf)); P.sb = sb;
      await append(sb, piece.buf);
      P.fetched = piece.end; P.segEnd = piece.segEnd;
      video.currentTime = Math.max(off, piece.start);
      video.playbackRate = +speed.value;
      const onFrame = () => { if (my === P.gen && P.firstFrameMs === null) P.firstFrameMs = performance.now() - P.tapAt; };
      if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFrame); else video.addEventListener('playing', onFrame, { once: true });
      video.play().catch(() => {});
    } catch (e) {
      if (my === P.gen) { if (e.gone) gone(); else say(L('Không phát được: ', 'Cannot play: ') + e.message); }
    } finally { if (my === P.gen) P.busy = false; }
    more();
  };
  // more fetches the next piece while less than 6 s (times the speed) is buffered ahead.
  const more = async () => {
    const my = P.gen;
    if (P.busy || !P.sb || !P.ms || P.ms.readyState !== 'open') return;
    if (P.fetched >= P.segEnd - 0.001) { if (!P.sb.updating) try { P.ms.endOfStream(); } catch (e) { } return; }
    if (P.fetched - video.currentTime > 6 * video.playbackRate) return;
    P.busy = true;
    try {
      const piece = await getPiece(P.seg, P.fetched, 10, true);
      if (my !== P.gen || !piece) return;
      if (piece.past) { P.fetched = P.segEnd; return; }
      if (video.currentTime > 30 && !P.sb.updating) { await new Promise((res) => { P.sb.addEventListener('updateend', res, { once: true }); P.sb.remove(0, video.currentTime - 20); }); }
      if (my !== P.gen) return;
      await append(P.sb, piece.buf);
      P.fetched = piece.end;
    } catch (e) { if (my === P.gen) { if (e.gone) gone(); else say(L('Không phát được: ', 'Cannot play: ') + e.message); } } finally { if (my === P.gen) { P.busy = false; setTimeout(more, 0); } }
  };
  const seek = (t) => {
    let s = segs.find((x) => t >= x.s && t < x.e);
    if (!s) {
      s = segs.find((x) => x.s >= t);
      if (!s) { say(L('Không có bản ghi từ ', 'Nothing recorded from ') + hm(t, true) + L(' trở đi.', ' on.')); return; }
      say(L('Không có bản ghi lúc ', 'Nothing recorded at ') + hm(t, true) + L('; phát từ ', '; playing from ') + hm(s.s, true) + '.');
      if (span < DAY && (s.s < viewStart || s.s > viewStart + span)) setView(s.s, span);
      play(s, 0); return;
    }
    const off = Math.max(0, (t - s.s) / 1000);
    const b = video.buffered;
    if (cur === s && P.sb && b.length && off >= b.start(0) && off < b.end(b.length - 1) - 0.2) { video.currentTime = off; say(''); return; }
    play(s, off);
  };
  video.addEventListener('ended', () => { const i = segs.indexOf(cur); if (i >= 0 && i + 1 < segs.length) play(segs[i + 1], 0); });
  video.addEventListener('timeupdate', () => { const t = nowT(); if (t) clock.textContent = fmtTime(t); draw(); more(); });
  speed.onchange = () => { video.playbackRate = +speed.value; };
  // Tap or drag-and-release seeks; two fingers zoom around their middle.
  const ptrs = new Map(); let pinch = null, dragging = false;
  const xToT = (x) => { const r = canvas.getBoundingClientRect(); return viewStart + (x - r.left) / r.width * span; };
  canvas.style.touchAction = 'none';
  canvas.addEventListener('pointerdown', (ev) => {
    ptrs.set(ev.pointerId, ev.clientX); canvas.setPointerCapture(ev.pointerId);
    if (ptrs.size === 2) { const [a, b] = [...ptrs.values()]; pinch = { d: Math.abs(a - b) || 1, span, mid: xToT((a + b) / 2) }; dragging = false; } else dragging = true;
  });
  canvas.addEventListener('pointermove', (ev) => {
    if (!ptrs.has(ev.pointerId)) return;
    ptrs.set(ev.pointerId, ev.clientX);
    if (pinch && ptrs.size === 2) { const [a, b] = [...ptrs.values()]; setView(pinch.mid, pinch.span * pinch.d / (Math.abs(a - b) || 1)); }
    else if (dragging) clock.textContent = fmtTime(xToT(ev.clientX));
  });
  const up = (ev) => {
    ptrs.delete(ev.pointerId);
    if (pinch) { if (!ptrs.size) pinch = null; return; }
    if (dragging && ev.type === 'pointerup') seek(xToT(ev.clientX));
    dragging = false;
  };
  canvas.addEventListener('pointerup', up); canvas.addEventListener('pointercancel', up);
  const zoom = (dir) => {
    const n = dir > 0 ? (SPANS.find((x) => x < span - 1) || SPANS[2]) : ([...SPANS].reverse().find((x) => x > span + 1) || DAY);
    setView(nowT() || (viewStart + span / 2), n);
  };
  zoomIn.onclick = () => zoom(1); zoomOut.onclick = () => zoom(-1);
  panL.onclick = () => setView(viewStart, span); panR.onclick = () => setView(viewStart + span, span); // half a view each way
  goB.onclick = () => {
    const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(timeIn.value);
    if (!m) { say(L('Nhập giờ, ví dụ 14:05:30.', 'Type a time, e.g. 14:05:30.')); return; }
    const t = dayStart + ((+m[1] * 60 + +m[2]) * 60 + +(m[3] || 0)) * 1000;
    if (span < DAY) setView(t, span);
    seek(t);
  };
  clipB.onclick = () => {
    const t = Math.round(nowT() || 0);
    if (!t) { clipMsg.textContent = L('Chọn thời điểm trên thanh thời gian trước.', 'Pick a time on the timeline first.'); return; }
    const to = t + +clipLen.value * 60000;
    if (!segs.some((x) => x.e > t && x.s < to)) { clipMsg.textContent = L('Không có bản ghi trong khoảng này.', 'Nothing recorded in this range.'); return; }
    const a = h('a', { href: '/api/clips/' + encodeURIComponent(sel.value) + '?from=' + t + '&to=' + to, download: '' });
    document.body.append(a); a.click(); a.remove();
    clipMsg.textContent = L('Đang tải ', 'Downloading ') + hm(t, true) + '–' + hm(to, true) + '…';
  };
  timeIn.addEventListener('keydown', (e) => { if (e.key === 'Enter') goB.onclick(); });
  prevB.onclick = () => { const t = nowT() || Date.now(); const e = [...evs].reverse().find((x) => x.s < t - 1500); if (e) seek(e.s - 2000); };
  nextB.onclick = () => { const t = nowT() || dayStart; const e = evs.find((x) => x.s > t + 2500); if (e) seek(e.s - 2000); };
  sel.onchange = async () => { cur = null; P.gen++; await load(); };
  day.onchange = load;
  window.mtPlayback = { seek, segments: () => segs, events: () => evs, now: nowT, view: () => ({ start: viewStart, span }), firstFrameMs: () => P.firstFrameMs };
  dayStart = parseLocal(day.value); viewStart = dayStart;
  await load();
  if (qs.get('t')) seek(+qs.get('t'));
};

// ---------- export ----------
pages.export = async (root) => {
  const cams = (await cameras()).filter((c) => c.video);
  const sel = h('select', { id: 'ex-camera' }, cams.map((c) => h('option', { value: c.id }, camLabel(c))));
  const now = new Date();
  const from = h('input', { type: 'datetime-local', id: 'ex-from', value: localInput(new Date(now - 600000), true), step: 1 });
  const to = h('input', { type: 'datetime-local', id: 'ex-to', value: localInput(now, true), step: 1 });
  const btn = h('button', { id: 'ex-go' }, L('Trích xuất video', 'Export video'));
  const out = h('div', { id: 'ex-result' });
  root.append(h('h1', {}, L('Trích xuất bằng chứng', 'Export evidence')),
    h('div', { class: 'card' }, h('p', { class: 'muted' }, L('Một tệp video MP4 (ghép nguyên bản, không nén lại), mã kiểm tra SHA-256 và bản kê có chữ ký của đầu ghi. Mỗi lần trích xuất được ghi vào nhật ký hoạt động.', 'One MP4 (stitched, not transcoded), its SHA-256 and a manifest signed by the box. Every export goes in the audit log.')),
      h('div', { class: 'row' }, h('label', {}, 'Camera', sel), h('label', {}, L('Từ', 'From'), from), h('label', {}, L('Đến', 'To'), to), btn)), out);
  btn.onclick = async () => {
    btn.disabled = true;
    // Progress: the server counts the bytes written of about how many the
    // recordings in the range hold; the steps after (hash, signature) are quick.
    const bar = h('progress', { id: 'ex-progress', max: 100 }), step = h('span', { id: 'ex-step' }, L('Đang chuẩn bị…', 'Preparing…'));
    fill(out, h('div', { class: 'card' }, h('p', {}, step), bar));
    const token = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
    const t0 = performance.now();
    const poll = setInterval(async () => {
      try {
        const p = await api('/api/exports/progress?id=' + token);
        const secs = Math.round((performance.now() - t0) / 1000);
        if (!p.running) return;
        const pct = p.total ? Math.min(99, Math.round(100 * p.written / p.total)) : null;
        if (pct !== null) bar.value = pct; else bar.removeAttribute('value');
        step.textContent = L('Đang ghép video: ', 'Stitching the video: ') + (pct !== null ? pct + ' % · ' : '') + fmtBytes(p.written) + (p.total ? ' / ~' + fmtBytes(p.total) : '') + ' · ' + secs + ' s';
        window.mtExportProgress = (window.mtExportProgress || []).concat([pct]);
      } catch (e) { }
    }, 500);
    try {
      const body = new URLSearchParams({ camera: sel.value, from: String(parseLocal(from.value)), to: String(parseLocal(to.value)), progress: token });
      const r = await fetch('/api/exports', { method: 'POST', headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/x-www-form-urlencoded' }, body });
      clearInterval(poll);
      const j = await r.json();
      if (!r.ok) throw new Error(j.error);
      const m = j.manifest, gaps = m.gaps || [];
      const span = (g) => fmtTime(g.from) + ' – ' + fmtTime(g.to) + ' (' + fmtSecs((new Date(g.to) - new Date(g.from)) / 1000) + ')';
      const held = (m.intervals || []).reduce((a, g) => a + (new Date(g.to) - new Date(g.from)) / 1000, 0);
      fill(out, h('div', { class: 'card' },
        gaps.length
          ? h('div', { class: 'error', id: 'ex-gaps' },
            h('p', {}, L('Bản trích xuất có ' + gaps.length + ' khoảng trống (không có hình): ', 'The export has ' + gaps.length + ' gap(s) (no video): ') +
              L('tệp chỉ chứa ', 'the file holds only ') + fmtSecs(held) + L(' video.', ' of video.')),
            h('ul', {}, gaps.map((g) => h('li', {}, span(g)))))
          : h('p', { class: 'notice', id: 'ex-ok' }, L('Đã trích xuất, không có khoảng trống: ', 'Exported, no gaps: ') + fmtSecs(held) + L(' video.', ' of video.')),
        h('table', {}, h('tr', {}, h('th', {}, L('Mã kiểm tra SHA-256', 'SHA-256')), h('td', { class: 'mono', id: 'ex-sha' }, j.manifest.sha256)),
          h('tr', {}, h('th', {}, L('Kích thước', 'Size')), h('td', {}, fmtBytes(j.manifest.bytes))),
          h('tr', {}, h('th', {}, L('Người trích xuất', 'Exported by')), h('td', {}, j.manifest.exportedBy + ' · ' + fmtTime(j.manifest.created))),
          h('tr', {}, h('th', {}, L('Đoạn có hình', 'Intervals held')), h('td', { id: 'ex-intervals' }, (m.intervals || []).map((g) => h('div', {}, span(g))))),
          h('tr', {}, h('th', {}, L('Chữ ký', 'Signature')), h('td', { class: 'mono' }, j.signature)),
          h('tr', {}, h('th', {}, L('Khoá của đầu ghi (vân tay)', 'Box key (fingerprint)')), h('td', { class: 'mono' }, m.keyFingerprint))),
        h('p', {}, h('a', { href: j.video, id: 'ex-video', download: j.manifest.file }, '⬇ ' + j.manifest.file), ' · ',
          h('a', { href: j.manifestURL, download: 'manifest.json' }, '⬇ manifest.json'), ' · ', h('a', { href: j.signatureURL, download: 'manifest.sig' }, '⬇ manifest.sig'))));
    } catch (e) { fill(out, h('p', { class: 'error', id: 'ex-error' }, e.message)); }
    clearInterval(poll);
    btn.disabled = false;
  };
};

// ---------- event search ----------
const eventTypes = ['motion', 'camera_offline', 'camera_online', 'scene_change', 'tamper', 'disk_low', 'disk_error', 'retention_delete'];
const typeName = (t) => ({ motion: L('Chuyển động', 'Motion'), camera_offline: L('Camera mất kết nối', 'Camera offline'), camera_online: L('Camera kết nối lại', 'Camera online'), scene_change: L('Đổi cảnh', 'Scene change'), tamper: L('Che/phá camera', 'Tamper'), disk_low: L('Ổ đĩa sắp đầy', 'Disk low'), disk_error: L('Lỗi ổ đĩa', 'Disk error'), retention_delete: L('Xoá bản ghi cũ', 'Old recordings deleted'), pairing: L('Nút ghép nối', 'Pairing button'), login_failures: L('Đăng nhập sai', 'Failed logins'), update: L('Cập nhật phần mềm', 'Firmware update'), camnet_rogue_dhcp: L('Máy chủ DHCP lạ trên mạng camera', 'Other DHCP server on the camera network'), camnet_pool_full: L('Hết địa chỉ cho camera', 'Camera address pool full') }[t] || L('Sự kiện khác', 'Other event'));
// eventName names an event by its type and reason (daemon/events reasons),
// and says when the box itself caused it (its own IR LEDs).
const eventName = (e) => ({ covered: L('Camera bị che', 'Camera covered'), moved: L('Camera bị xoay', 'Camera turned away'), defocused: L('Camera bị mờ', 'Camera out of focus'),
  lights: (e.text || '').startsWith('chuyển ngày/đêm') ? L('Chuyển ngày/đêm', 'Day/night switch') : L('Bật/tắt đèn', 'Lights switched') }[e.reason] || typeName(e.type))
  + (e.cause === 'box' ? ' ' + L('(do hộp bật/tắt đèn hồng ngoại)', '(the box switched its IR LEDs)') : '');
// half picks the page language's half of a daemon text "tiếng Việt / English".
const half = (t) => { const i = (t || '').indexOf(' / '); return i < 0 ? (t || '') : lang === 'en' ? t.slice(i + 3) : t.slice(0, i); };
// eventText says what happened in plain words; the daemon's technical
// detail (an RTSP error, a reason code) goes behind "Chi tiết".
function eventText(e) {
  const t = e.text || '', n = (t.match(/\d+/) || [])[0];
  switch (e.type) {
    case 'motion': return n ? L('Chuyển động (' + n + ' ô)', 'Motion (' + n + ' blocks)') : typeName(e.type);
    case 'retention_delete': {
      const why = /\(space\)/.test(t) ? L(' do ổ đĩa đầy', ' because the disk was full') : /\(age\)/.test(t) ? L(' do quá số ngày lưu', ' past the days kept') : '';
      return n ? L('Đã xoá ' + n + ' đoạn ghi cũ', 'Deleted ' + n + ' old recording' + (n > 1 ? 's' : '')) + why : typeName(e.type);
    }
    case 'camera_offline': {
      const why = /\b40[13]\b|unauthori[sz]ed|auth/i.test(t) ? L(' (sai mật khẩu camera)', ' (wrong camera password)')
        : /refused|no route|unreachable/i.test(t) ? L(' (không tới được camera)', ' (camera unreachable)') : L(' (không phản hồi)', ' (not answering)');
      return [L('Camera mất kết nối', 'Camera offline') + why, t ? more(t) : null];
    }
    case 'scene_change': case 'tamper': return [eventName(e), half(t) ? more(half(t)) : null];
    default: return half(t) || typeName(e.type);
  }
}
pages.search = async (root) => {
  const cams = (await cameras()).filter((c) => c.video);
  const q = h('input', { id: 'se-q', type: 'search', placeholder: L('Nhập từ cần tìm, ví dụ: chuyển động', 'Words to find, e.g. motion'), size: 40 });
  const now = new Date();
  const from = h('input', { type: 'datetime-local', id: 'se-from', value: localInput(new Date(now - 86400000)) });
  const to = h('input', { type: 'datetime-local', id: 'se-to', value: localInput(new Date(now.getTime() + 60000)) });
  const camBoxes = cams.map((c) => h('label', { class: 'inline' }, h('input', { type: 'checkbox', value: c.id, class: 'se-cam' }), ' ' + c.name));
  const typeBoxes = eventTypes.map((t) => h('label', { class: 'inline' }, h('input', { type: 'checkbox', value: t, class: 'se-type' }), ' ' + typeName(t)));
  const btn = h('button', { id: 'se-go' }, L('Tìm', 'Search'));
  const out = h('div', { id: 'se-result' });
  root.append(h('h1', {}, L('Tìm sự kiện', 'Event search')),
    h('div', { class: 'card' }, h('div', { class: 'row' }, h('label', {}, L('Tìm', 'Query'), q), h('label', {}, L('Từ', 'From'), from), h('label', {}, L('Đến', 'To'), to), btn),
      h('p', { class: 'muted', id: 'se-help' }, L('Gõ có dấu hay không dấu đều được: "chuyen dong" tìm ra cả "chuyển động". Kết quả có đủ mọi từ đã nhập.', 'With or without Vietnamese accents: "chuyen dong" also finds "chuyển động". Results hold every word typed.')),
      h('div', { class: 'row' }, L('Camera: ', 'Cameras: '), camBoxes), h('div', { class: 'row' }, L('Loại: ', 'Type: '), typeBoxes)), out);
  const run = async () => {
    const p = new URLSearchParams({ q: q.value, from: String(parseLocal(from.value)), to: String(parseLocal(to.value)), size: '100' });
    document.querySelectorAll('.se-cam:checked').forEach((b) => p.append('camera', b.value));
    document.querySelectorAll('.se-type:checked').forEach((b) => p.append('type', b.value));
    try {
      const r = await api('/api/events/search?' + p);
      const facets = h('div', { class: 'facets' }, Object.entries(r.facets || {}).map(([name, m]) => h('div', {}, h('b', {}, { camera: L('Theo camera', 'By camera'), type: L('Theo loại', 'By type') }[name] || name), h('ul', {}, Object.entries(m).map(([k, n]) => h('li', {}, (name === 'type' ? typeName(k) : (cams.find((c) => c.id === k) || { name: k }).name) + ': ' + n))))));
      fill(out, h('div', { class: 'card' }, h('p', { id: 'se-total' }, r.total + L(' kết quả', ' results')), facets,
        h('table', { id: 'se-table' }, h('tr', {}, h('th', {}, L('Thời gian', 'Time')), h('th', {}, 'Camera'), h('th', {}, L('Loại', 'Type')), h('th', {}, L('Chi tiết', 'Detail'))),
          r.hits.map((e) => h('tr', { class: 'se-hit' }, h('td', {}, h('a', { href: '/playback?camera=' + encodeURIComponent(e.camera) + '&t=' + (Date.parse(e.start) - 2000) }, fmtTime(e.start))), h('td', {}, e.camera), h('td', {}, eventName(e)), h('td', {}, eventText(e)))))));
    } catch (e) { fill(out, h('p', { class: 'error' }, e.message)); }
  };
  btn.onclick = run; q.addEventListener('keydown', (e) => { if (e.key === 'Enter') run(); });
};

// ---------- pairing: cameras plugged into the camera network ----------
// A camera found on the camera network is listed here only while pairing
// is open (the box's button or this switch, 2 minutes); an officer names
// it and gives it to a household (or the road) before it is recorded.
async function pairingCard(root, households, onPaired) {
  const card = h('div', { class: 'card', id: 'pair-card' });
  const status = h('p', { id: 'pair-msg' });
  const sw = h('button', { id: 'pair-switch' });
  const left = h('span', { id: 'pair-left', class: 'muted' });
  const list = h('div', { id: 'pair-list' });
  const forms = {}; // open login/pair forms by key, kept across refreshes
  root.append(card);
  fill(card, h('h2', {}, L('Ghép camera mới', 'Pair new cameras')),
    h('p', { class: 'muted' }, L('Cắm camera vào cổng camera của đầu ghi, rồi bấm "Ghép camera" (hoặc nút ghép trên đầu ghi). Trong 2 phút, camera mới sẽ hiện ở đây. Camera chưa ghép không bao giờ được ghi hình.', 'Plug the camera into the box\'s camera port, then press "Pair" (or the box\'s pairing button). For 2 minutes new cameras show here. A camera not paired is never recorded.')),
    h('div', { class: 'row' }, sw, left), status, list);
  let st = { open: false, candidates: [] };
  const render = () => {
    sw.textContent = st.open ? L('Dừng ghép camera', 'Stop pairing') : L('Ghép camera', 'Pair');
    sw.className = st.open ? 'secondary' : '';
    left.textContent = st.open && st.until ? L('Đang mở đến ', 'Open until ') + fmtTime(st.until) : L('Đang đóng', 'Closed');
    for (const c of st.candidates) {
      if (!forms[c.key]) forms[c.key] = candidateForm(c);
      forms[c.key].update(c);
    }
    for (const k of Object.keys(forms)) if (!st.candidates.some((c) => c.key === k)) delete forms[k];
    fill(list, st.candidates.length ? st.candidates.map((c) => forms[c.key].el) : h('p', { class: 'muted', id: 'pair-none' }, L('Chưa có camera mới.', 'No new cameras yet.')));
  };
  const candidateForm = (c0) => {
    const el = h('div', { class: 'card pair-cand', 'data-key': c0.key });
    const info = h('p', { class: 'pair-info' });
    const state = h('p'); // msg() sets its class: the box around it is .pair-state
    const user = h('input', { value: 'admin', maxlength: 64, class: 'pair-user', autocomplete: 'off' });
    const pass = h('input', { type: 'password', maxlength: 128, class: 'pair-pass', autocomplete: 'new-password' });
    const maker = h('select', { class: 'pair-maker' }, h('option', { value: '' }, L('Tự nhận (ONVIF)', 'Automatic (ONVIF)')), h('option', { value: 'hikvision' }, 'Hikvision'), h('option', { value: 'dahua' }, 'Dahua / Imou / KBVision'), h('option', { value: 'ezviz' }, L('Ezviz (mật khẩu = mã xác minh trên nhãn)', 'Ezviz (password = verification code on the label)')));
    const id = h('input', { maxlength: 32, class: 'pair-id', placeholder: 'cam5' });
    const name = h('input', { maxlength: 100, class: 'pair-name' });
    const hh = h('select', { class: 'pair-household' }, h('option', { value: '' }, L('— chọn hộ —', '— choose household —')), h('option', { value: '@road' }, L('Camera đường (chung)', 'Road camera (shared)')), households.map((x) => h('option', { value: x.id }, camLabel(x))));
    const mode = h('select', { class: 'pair-mode' }, h('option', { value: 'continuous' }, L('Ghi liên tục', 'Record continuously')), h('option', { value: 'motion' }, L('Ghi khi có chuyển động', 'Record on motion')));
    const pairBox = h('div', { class: 'pair-save' });
    const view = h('div', { class: 'pair-preview' });
    let player = null;
    const stopView = () => { if (player) { player.close(); player = null; } fill(view); };
    const login = h('button', { class: 'secondary pair-login', onclick: async () => {
      msg(state, '…', true);
      try {
        const r = await api('/api/pairing/' + c0.key + '/login', { method: 'POST', json: { user: user.value.trim(), password: pass.value, maker: maker.value } });
        pass.value = '';
        const ok = r.candidate && (r.candidate.state === 'ready' || r.candidate.state === 'known_paths');
        msg(state, r.message + (r.probe ? ' ' + L('Hình: ', 'Picture: ') + r.probe.codec + (r.probe.width ? ' ' + r.probe.width + '×' + r.probe.height : '') : '') + (r.probeError ? ' ' + r.probeError : ''), ok);
        if (r.candidate) { Object.assign(c0, r.candidate); update(c0); }
        stopView();
        if (r.preview && role === 'officer') { const v = h('video', { muted: true, autoplay: true, playsinline: true, class: 'pair-video' }); fill(view, v); player = new LivePlayer(v, r.preview, null); player.start(); }
      } catch (e) { msg(state, e.message); }
    } }, L('Kết nối', 'Connect'));
    const save = h('button', { class: 'pair-pair', onclick: async () => {
      const road = hh.value === '@road';
      try {
        const r = await api('/api/pairing/' + c0.key + '/pair', { method: 'POST', json: { id: id.value.trim(), name: name.value.trim(), household: road ? '' : hh.value, road, mode: mode.value } });
        stopView(); msg(status, r.message, true); await refresh(); onPaired();
      } catch (e) { msg(state, e.message); }
    } }, L('Lưu và bắt đầu ghi', 'Save and start recording'));
    const forget = h('button', { class: 'danger pair-forget', onclick: async () => { stopView(); try { await api('/api/pairing/' + c0.key + '/forget', { method: 'POST' }); await refresh(); } catch (e) { msg(state, e.message); } } }, L('Bỏ qua', 'Dismiss'));
    const update = (c) => {
      fill(info, h('strong', {}, [c.maker, c.model].filter((x) => x).join(' ') || L('Camera chưa rõ hãng', 'Camera, maker unknown')), ' · ', c.addr, c.mac ? ' · MAC ' + c.mac : '', c.serial ? ' · ' + L('số sê-ri ', 'serial ') + c.serial : '',
        c.known ? h('span', { class: 'badge ok' }, L('Đã ghép trước đây: ', 'Paired before: ') + c.known) : null);
      const ready = c.state === 'ready' || c.state === 'known_paths';
      fill(pairBox, !ready ? null : role !== 'officer' ? h('p', { class: 'muted' }, L('Cán bộ đặt tên và giao camera cho hộ.', 'An officer names the camera and gives it to a household.')) :
        c.known ? h('div', { class: 'row' }, save) :
          [h('div', { class: 'row' }, h('label', {}, L('Mã camera', 'Camera ID'), id), h('label', {}, L('Tên', 'Name'), name), h('label', {}, L('Hộ gia đình', 'Household'), hh), h('label', {}, L('Chế độ ghi', 'Recording mode'), mode)), h('div', { class: 'row' }, save)]);
    };
    fill(el, info, h('div', { class: 'row' }, h('label', {}, L('Tên đăng nhập camera', 'Camera user'), user), h('label', {}, L('Mật khẩu camera', 'Camera password'), pass), h('label', {}, L('Hãng (khi không có ONVIF)', 'Maker (when no ONVIF)'), maker)),
      h('div', { class: 'row' }, login, forget), h('div', { class: 'pair-state' }, state), view, pairBox);
    update(c0);
    return { el, update };
  };
  const refresh = async () => { try { st = await api('/api/pairing'); render(); } catch (e) { msg(status, e.message); } };
  sw.onclick = async () => { try { st = await api('/api/pairing', { method: 'POST', json: { open: !st.open } }); render(); } catch (e) { msg(status, e.message); } };
  await refresh();
  const t = setInterval(() => { if (!document.body.contains(card)) { clearInterval(t); return; } if (!document.hidden) refresh(); }, 3000);
}

// camPasswordBox changes a paired camera's own (factory) password through ONVIF.
function camPasswordBox(id) {
  const out = h('span', { id: 'cam-pw-result' });
  const pw = h('input', { type: 'password', id: 'cam-newpw', minlength: 8, maxlength: 64, autocomplete: 'new-password' });
  return h('div', { class: 'row' }, h('label', {}, L('Mật khẩu mới cho camera (đổi mật khẩu gốc của hãng)', 'New camera password (replaces the factory one)'), pw),
    h('button', { class: 'secondary', id: 'cam-setpw', onclick: async () => { try { msg(out, (await api('/api/cameras/' + encodeURIComponent(id) + '/camera-password', { method: 'POST', json: { password: pw.value } })).message, true); pw.value = ''; } catch (e) { msg(out, e.message); } } }, L('Đổi mật khẩu camera', 'Change camera password')), out);
}

// ---------- cameras ----------
const modeName = (m) => ({ motion: L('Khi có chuyển động (ghi trước/sau sự kiện)', 'On motion (with time before/after)'), continuous: L('Liên tục', 'Continuous'),
  mixed: L('Hỗn hợp: liên tục, video có sự kiện lưu lâu hơn', 'Mixed: continuous, event video kept longer') }[m] || m);
// retentionText says how a camera records and how long its video is kept.
const retentionText = (s, boxDays) => {
  if (!s) return '—';
  const days = (n) => n > 0 ? n + L(' ngày', ' days') : L('đến khi đầy ổ', 'until the disk is full');
  const plain = s.retentionDays > 0 ? days(s.retentionDays) : days(boxDays) + L(' (theo đầu ghi)', ' (the box\'s)');
  const short = { motion: L('Khi có chuyển động', 'On motion'), continuous: L('Liên tục', 'Continuous'), mixed: L('Hỗn hợp', 'Mixed') }[s.mode] || s.mode;
  if (s.mode === 'mixed') return short + ' · ' + L('video thường ', 'plain video ') + plain + ', ' + L('video có sự kiện ', 'event video ') + days(s.eventRetentionDays);
  return short + ' · ' + L('lưu ', 'kept ') + plain;
};
pages.cameras = async (root) => {
  const status = h('p', { id: 'cam-msg' });
  const table = h('table', { id: 'cam-table' });
  const form = h('div', { class: 'card', id: 'cam-form' });
  root.append(h('h1', {}, L('Camera', 'Cameras')));
  let households = [];
  if (role === 'officer') { try { households = (await api('/api/households')).households || []; } catch (e) { } }
  let boxDays = 0;
  await pairingCard(root, households, () => refresh());
  root.append(h('div', { class: 'card' }, table), status, form);
  const refresh = async () => {
    const r = await api('/api/cameras');
    boxDays = r.boxRetentionDays || 0;
    fill(table, h('tr', {}, h('th', {}, L('Mã', 'ID')), h('th', {}, L('Tên', 'Name')), h('th', {}, L('Hộ', 'Household')), h('th', {}, L('Trạng thái', 'State')), h('th', {}, L('Ghi / lưu', 'Recording / kept')), h('th', {}, '')),
      r.cameras.map((c) => h('tr', {}, h('td', {}, c.id), h('td', {}, c.name), h('td', {}, c.household || L('Đường (chung)', 'Road (shared)')), h('td', {}, stateBadges(c), c.codec ? ' ' + c.codec + ' ' + (c.width || '') + 'x' + (c.height || '') : ''),
        h('td', { class: 'cam-retention' }, retentionText(c.settings, boxDays)),
        h('td', {}, h('button', { class: 'secondary', onclick: () => edit(c) }, L('Sửa', 'Edit')), ' ',
          h('button', { class: 'danger', onclick: async () => { if (!confirm(L('Xoá camera ', 'Remove camera ') + c.id + '?')) return; try { msg(status, (await api('/api/cameras/' + encodeURIComponent(c.id) + '/delete', { method: 'POST' })).message, true); refresh(); } catch (e) { msg(status, e.message); } } }, L('Xoá', 'Remove'))))));
    if (!r.canApply) status.textContent = L('Lưu ý: thay đổi được lưu và có hiệu lực sau khi khởi động lại thiết bị.', 'Note: changes are saved and take effect after the box restarts.');
  };
  const edit = (c) => {
    const s = (c && c.settings) || { id: c ? c.id : '', name: c ? c.name : '', url: 'rtsp://', household: c ? c.household || '' : '', mode: 'motion', preSec: 5, postSec: 10, retentionDays: 14, zones: [] };
    if (!s.eventRetentionDays) s.eventRetentionDays = 30;
    const f = {};
    const inp = (k, attrs) => (f[k] = h('input', { value: s[k] ?? '', id: 'cam-' + k, ...attrs }));
    const hh = role === 'officer' ? h('select', { id: 'cam-household' }, h('option', { value: '' }, L('Camera đường (chung)', 'Road camera (shared)')), households.map((x) => h('option', { value: x.id }, camLabel(x)))) : inp('household', {});
    hh.value = s.household || ''; f.household = hh;
    const audio = h('input', { type: 'checkbox', id: 'cam-recordAudio' }); audio.checked = !!s.recordAudio; f.recordAudio = audio;
    const mode = h('select', { id: 'cam-mode' }, h('option', { value: 'motion' }, modeName('motion')), h('option', { value: 'continuous' }, modeName('continuous')), h('option', { value: 'mixed' }, modeName('mixed')));
    mode.value = s.mode || 'motion'; f.mode = mode;
    const evDays = h('label', { id: 'cam-event-days' }, L('Số ngày lưu video có sự kiện', 'Days event video is kept'), inp('eventRetentionDays', { type: 'number', min: 1, max: 365 }));
    const showEvDays = () => { evDays.hidden = mode.value !== 'mixed'; };
    mode.addEventListener('change', showEvDays); showEvDays();
    const probeOut = h('span', { id: 'cam-probe-result' });
    const zones = (s.zones || []).map((z) => ({ ...z }));
    const gw = Math.ceil((c && c.width || 1280) / 16), gh = Math.ceil((c && c.height || 720) / 16);
    const video = h('video', { muted: true, autoplay: true, playsinline: true });
    const canvas = h('canvas', { width: gw * 8, height: gh * 8, id: 'cam-zones' });
    const kind = h('select', { id: 'cam-zone-kind' }, h('option', { value: 'zone' }, L('Vùng phát hiện', 'Detection zone')), h('option', { value: 'mask' }, L('Vùng che (bỏ qua)', 'Mask (ignore)')));
    const drawZones = () => {
      const g = canvas.getContext('2d'); g.clearRect(0, 0, canvas.width, canvas.height);
      g.strokeStyle = '#fff3'; for (let x = 0; x <= gw; x++) { g.beginPath(); g.moveTo(x * 8, 0); g.lineTo(x * 8, gh * 8); g.stroke(); } for (let y = 0; y <= gh; y++) { g.beginPath(); g.moveTo(0, y * 8); g.lineTo(gw * 8, y * 8); g.stroke(); }
      for (const z of zones) { g.fillStyle = z.kind === 'mask' ? '#0008' : '#2e8b5766'; g.fillRect(z.X0 * 8, z.Y0 * 8, (z.X1 - z.X0) * 8, (z.Y1 - z.Y0) * 8); }
    };
    let p0 = null;
    const cell = (ev) => { const r = canvas.getBoundingClientRect(); return [Math.max(0, Math.min(gw - 1, Math.floor((ev.clientX - r.left) / r.width * gw))), Math.max(0, Math.min(gh - 1, Math.floor((ev.clientY - r.top) / r.height * gh)))]; };
    canvas.addEventListener('pointerdown', (ev) => { p0 = cell(ev); canvas.setPointerCapture(ev.pointerId); });
    canvas.addEventListener('pointerup', (ev) => { if (!p0) return; const p1 = cell(ev); zones.push({ kind: kind.value, X0: Math.min(p0[0], p1[0]), Y0: Math.min(p0[1], p1[1]), X1: Math.max(p0[0], p1[0]) + 1, Y1: Math.max(p0[1], p1[1]) + 1 }); p0 = null; drawZones(); });
    const zoneBox = h('div', { class: 'zones' }, video, canvas);
    if (form.player) { form.player.close(); form.player = null; }
    if (c && c.video) { const p = new LivePlayer(video, c.id, null); p.start(); form.player = p; }
    drawZones();
    fill(form, h('h2', {}, c ? L('Sửa camera ', 'Edit camera ') + s.id : L('Thêm camera', 'Add camera')),
      h('label', {}, L('Mã camera', 'Camera ID'), inp('id', { readonly: c ? true : null, maxlength: 32 })), h('label', {}, L('Tên', 'Name'), inp('name', { maxlength: 100 })),
      h('label', {}, L('Địa chỉ RTSP', 'RTSP URL'), inp('url', { maxlength: 500 })),
      s.maker || s.mac ? h('p', { class: 'muted', id: 'cam-identity' }, [s.maker, s.model].filter((x) => x).join(' '), s.serial ? ' · ' + L('số sê-ri ', 'serial ') + s.serial : '', s.mac ? ' · MAC ' + s.mac : '', s.subUrl ? ' · ' + L('có luồng phụ cho xem trực tiếp', 'sub stream for live view') : '') : null,
      s.onvif ? camPasswordBox(s.id) : null,
      s.password_set ? h('p', { class: 'muted', id: 'cam-password-kept' }, L('Mật khẩu camera đã lưu và không hiển thị; để trống để giữ, hoặc nhập rtsp://tên:mật-khẩu-mới@… để đổi.', 'The camera password is saved and never shown; leave it out to keep it, or enter rtsp://user:new-password@… to change it.')) : null,
      h('div', { class: 'row' }, h('button', { class: 'secondary', id: 'cam-probe', onclick: async () => { probeOut.textContent = '…'; try { const r = await api('/api/cameras/probe', { method: 'POST', json: { url: f.url.value, id: s.id || '' } }); msg(probeOut, L('Kết nối được, chuẩn nén ', 'Connected: ') + r.codec, true); } catch (e) { msg(probeOut, e.message); } } }, L('Thử kết nối', 'Test connection')), probeOut),
      h('label', {}, L('Hộ gia đình', 'Household'), hh), h('label', {}, L('Chế độ ghi', 'Recording mode'), mode),
      h('label', { class: 'inline' }, audio, ' ' + L('Ghi âm thanh', 'Record audio')),
      h('p', { class: 'muted' }, L('Tắt theo mặc định: chỉ bật khi hộ gia đình đồng ý ghi âm. AAC phát được trên trang; G.711 được lưu dạng LPCM, nghe bằng bản xuất (VLC).', 'Off by default: turn it on only when the household agrees to sound being recorded. AAC plays on this page; G.711 is kept as LPCM, heard in exports (VLC).')),
      h('label', { class: 'inline' }, (f.shared = h('input', { type: 'checkbox', id: 'cam-shared', checked: !s.notShared })), ' ' + L('Chia sẻ với công an huyện (bỏ chọn cho camera trong nhà)', 'Shared with the district police (untick for an indoor camera)')),
      h('div', { class: 'row' }, h('label', {}, L('Ghi trước sự kiện (giây)', 'Record before the event (s)'), inp('preSec', { type: 'number', min: 0, max: 60 })), h('label', {}, L('Ghi sau sự kiện (giây)', 'Record after the event (s)'), inp('postSec', { type: 'number', min: 0, max: 300 })), h('label', {}, L('Số ngày lưu (0 = theo cài đặt của đầu ghi: ', 'Days kept (0 = the box\'s setting: ') + boxDays + L(' ngày)', ' days)'), inp('retentionDays', { type: 'number', min: 0, max: 365 })), evDays),
      h('h3', {}, L('Vùng phát hiện / vùng che: kéo trên hình để vẽ vùng', 'Motion zones / masks: drag on the picture to draw one')),
      c && c.video ? null : h('p', { class: 'muted' }, L('Hình trực tiếp chỉ hiện cho cán bộ.', 'The live picture shows for officers only.')),
      h('div', { class: 'row' }, kind, h('button', { class: 'secondary', onclick: () => { zones.length = 0; drawZones(); } }, L('Xoá hết vùng', 'Clear zones'))), zoneBox,
      h('div', { class: 'row' }, h('button', { id: 'cam-save', onclick: async () => {
        const body = { id: f.id.value.trim(), name: f.name.value.trim(), url: f.url.value.trim(), household: f.household.value, mode: f.mode.value, recordAudio: f.recordAudio.checked, preSec: +f.preSec.value, postSec: +f.postSec.value, retentionDays: +f.retentionDays.value, eventRetentionDays: f.mode.value === 'mixed' ? +f.eventRetentionDays.value : 0, zones, notShared: !f.shared.checked };
        try { const r = await api('/api/cameras', { method: 'POST', json: body }); msg(status, r.message, true); refresh(); } catch (e) { msg(status, e.message); }
      } }, L('Lưu', 'Save'))));
  };
  root.append(h('button', { id: 'cam-add', onclick: () => edit(null) }, '+ ' + L('Thêm camera', 'Add camera')));
  await refresh();
};

// ---------- households ----------
pages.households = async (root) => {
  const status = h('p', { id: 'hh-msg' });
  const list = h('div', { id: 'hh-list' });
  const id = h('input', { id: 'hh-id', placeholder: 'ho-nguyen-van-a', maxlength: 32 }), name = h('input', { id: 'hh-name', maxlength: 100 }), addr = h('input', { id: 'hh-addr', maxlength: 200 });
  root.append(h('h1', {}, L('Hộ gia đình', 'Households')), status,
    h('div', { class: 'card' }, h('h2', {}, L('Thêm / sửa hộ', 'Add / edit household')), h('div', { class: 'row' }, h('label', {}, L('Mã hộ', 'Household ID'), id), h('label', {}, L('Tên chủ hộ', 'Name'), name), h('label', {}, L('Địa chỉ', 'Address'), addr),
      h('button', { id: 'hh-save', onclick: async () => { try { msg(status, (await api('/api/households', { method: 'POST', json: { id: id.value.trim(), name: name.value, address: addr.value } })).message, true); refresh(); } catch (e) { msg(status, e.message); } } }, L('Lưu', 'Save')))), list);
  const refresh = async () => {
    const hs = (await api('/api/households')).households || [];
    const road = (await cameras()).filter((c) => !c.household);
    fill(list, ...hs.map((x) => {
      const boxes = road.map((c) => h('label', { class: 'inline' }, h('input', { type: 'checkbox', value: c.id, checked: (x.grants || []).includes(c.id) }), ' ' + c.name + ' '));
      const box = h('div', { class: 'row' }, boxes);
      return h('div', { class: 'card' }, h('h3', {}, camLabel(x)), h('p', { class: 'muted' }, x.address || ''),
        h('p', {}, L('Camera của hộ: ', 'Own cameras: ') + (x.cameras.join(', ') || '—') + ' · ' + L('Tài khoản: ', 'Accounts: ') + (x.users.join(', ') || '—')),
        h('p', {}, L('Camera đường được xem:', 'Road cameras granted:')), box,
        h('button', { class: 'secondary', onclick: async () => { const g = [...box.querySelectorAll('input:checked')].map((b) => b.value); try { msg(status, (await api('/api/households/' + encodeURIComponent(x.id) + '/grants', { method: 'POST', json: { cameras: g } })).message, true); } catch (e) { msg(status, e.message); } } }, L('Lưu quyền xem', 'Save grants')));
    }));
  };
  await refresh();
};

// ---------- users ----------
const roleName = (r) => ({ technician: L('Kỹ thuật viên', 'Technician'), officer: L('Cán bộ công an', 'Officer'), household: L('Hộ gia đình', 'Household') }[r] || r);
pages.users = async (root) => {
  const status = h('p', { id: 'us-msg' });
  const table = h('table', { id: 'us-table' });
  const first = await api('/api/users');
  const roles = (role === 'technician' ? ['officer', 'technician'] : ['household', 'officer']).filter((r) => (first.canCreate || []).includes(r));
  const name = h('input', { id: 'us-name', maxlength: 32 }), pw = h('input', { id: 'us-password', type: 'password', minlength: 10, autocomplete: 'new-password' });
  const rsel = h('select', { id: 'us-role' }, roles.map((r) => h('option', { value: r }, roleName(r))));
  let hsel = null;
  if (role === 'officer') { const hs = (await api('/api/households')).households || []; hsel = h('select', { id: 'us-household' }, hs.map((x) => h('option', { value: x.id }, camLabel(x)))); }
  root.append(h('h1', {}, L('Người dùng', 'Users')), first.officerReset ? h('p', { class: 'error', id: 'us-reset' }, first.officerReset) : null, status, h('div', { class: 'card' }, table),
    h('div', { class: 'card' }, h('h2', {}, L('Tạo tài khoản', 'Create account')), h('div', { class: 'row' }, h('label', {}, L('Tên đăng nhập', 'User name'), name), h('label', {}, L('Mật khẩu', 'Password'), pw), h('label', {}, L('Vai trò', 'Role'), rsel), hsel ? h('label', {}, L('Hộ', 'Household'), hsel) : null,
      h('button', { id: 'us-create', onclick: async () => { try { msg(status, (await api('/api/users', { method: 'POST', json: { name: name.value.trim(), password: pw.value, role: rsel.value, household: hsel ? hsel.value : '' } })).message, true); pw.value = ''; refresh(); } catch (e) { msg(status, e.message); } } }, L('Tạo', 'Create')))));
  const refresh = async () => {
    const us = (await api('/api/users')).users;
    fill(table, h('tr', {}, h('th', {}, L('Tên', 'Name')), h('th', {}, L('Vai trò', 'Role')), h('th', {}, L('Hộ', 'Household')), h('th', {}, L('Tạo lúc', 'Created')), h('th', {}, '')),
      us.map((u) => h('tr', {}, h('td', {}, u.name), h('td', {}, roleName(u.role)), h('td', {}, u.household || ''), h('td', {}, fmtTime(u.created)),
        h('td', {}, u.manage ? [h('button', { class: 'secondary', onclick: async () => { const p = prompt(L('Mật khẩu mới cho ', 'New password for ') + u.name); if (!p) return; try { msg(status, (await api('/api/users/' + encodeURIComponent(u.name) + '/password', { method: 'POST', json: { password: p } })).message, true); } catch (e) { msg(status, e.message); } } }, L('Đặt lại mật khẩu', 'Reset password')), ' ',
          u.name === document.body.dataset.user ? null : h('button', { class: 'danger', onclick: async () => { if (!confirm(L('Xoá ', 'Delete ') + u.name + '?')) return; try { msg(status, (await api('/api/users/' + encodeURIComponent(u.name) + '/delete', { method: 'POST' })).message, true); refresh(); } catch (e) { msg(status, e.message); } } }, L('Xoá', 'Delete'))] : null))));
  };
  await refresh();
};

// ---------- system ----------
const irModeName = (m) => ({ auto: L('tự động', 'automatic'), on: L('luôn bật', 'always on'), off: L('luôn tắt', 'always off') }[m] || m);
pages.system = async (root) => {
  const box = h('div', { class: 'card', id: 'sys' });
  root.append(h('h1', {}, L('Hệ thống', 'System')), box);
  const r = await api('/api/system');
  const st = r.stats || {};
  const rows = [
    [L('Camera trực tuyến', 'Cameras online'), r.camerasOnline + ' / ' + r.camerasTotal],
    [L('Ổ đĩa', 'Disk'), st.diskTotal ? fmtBytes(st.diskUsed) + ' / ' + fmtBytes(st.diskTotal) + ' (' + Math.round(100 * st.diskUsed / st.diskTotal) + '%)' : L('không rõ', 'unknown')],
    [L('Số ngày ghi được ở tốc độ hiện tại', 'Days of recording at the current rate'), h('span', { id: 'sys-days' }, r.daysCapacity ? L('Ghi liên tục: ', 'Continuous: ') + fmtNum(r.daysCapacity, 1) + L(' ngày (đang lưu ', ' days (holding ') + fmtNum(r.daysRecorded, 1) + L(' ngày)', ' days)') : L('chưa đo được', 'not measured yet'),
      r.daysEventsOnly ? h('br') : null, r.daysEventsOnly ? L('Chỉ video có sự kiện (chế độ khi có chuyển động, phần giữ lâu của chế độ hỗn hợp): ', 'Event video only (on-motion mode, the part the mixed mode keeps longer): ') + fmtNum(r.daysEventsOnly, 1) + L(' ngày', ' days') : null)],
    [L('Thời gian chạy', 'Uptime'), fmtDur(st.uptimeSec || r.webUptimeSec)],
    [L('Múi giờ của đầu ghi', 'Time zone of the recorder'), h('span', { id: 'sys-tz' }, r.timeZone || '—')],
    [L('Nhiệt độ', 'Temperature'), st.tempC !== undefined && st.tempC !== null ? fmtNum(st.tempC, 1) + ' °C' : L('không có cảm biến', 'no sensor')],
    [L('Đèn hồng ngoại', 'IR light'), r.lights ? (r.lights.irOn ? L('Bật', 'On') : L('Tắt', 'Off')) + ' (' + irModeName(r.lights.mode) + ')' : L('không rõ', 'unknown')],
    [L('Vân tay chứng chỉ HTTPS (SHA-256)', 'HTTPS certificate fingerprint (SHA-256)'), h('span', { class: 'mono', id: 'sys-fp' }, r.certFingerprint || '—')],
    [L('Vân tay khoá ký bằng chứng của đầu ghi', 'Fingerprint of the box\'s evidence key'), h('div', {}, h('span', { class: 'mono', id: 'sys-boxkey' }, r.boxKeyFingerprint || '—'),
      h('p', { class: 'muted' }, L('Ghi lại mã này khi bàn giao đầu ghi; dùng để kiểm tra bằng chứng trích xuất (chương trình matthan-verify). ', 'Record it when the box is handed over; it checks exported evidence (matthan-verify). '),
        r.boxKeyURL ? h('a', { href: r.boxKeyURL, download: 'matthan-box-key.pem', id: 'sys-boxkey-dl' }, '⬇ ' + L('Tải khoá công khai', 'Download the public key')) : null))],
    [L('Phiên bản', 'Version'), st.version || '—'],
  ];
  box.append(h('table', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))));
  await clockCard(root);
  await systemDisks(root);
  root.append(h('div', { class: 'card' }, h('h2', {}, L('Nhật ký khởi động', 'Start-up log')), h('pre', { class: 'logs', id: 'sys-logs' }, (r.logs || []).join('\n') || '—')));
  if (role === 'technician') { await networkCard(root); await districtCard(root); await firmwareCard(root); }
};

// The box's own clock: its state and where its time came from; when no
// source is trusted, an officer or technician sets it from the phone.
async function clockCard(root) {
  const card = h('div', { class: 'card', id: 'sys-clock' });
  root.append(card);
  const status = h('p', { id: 'clock-msg' });
  const sourceText = (c) => ({
    ntp: L('máy chủ thời gian (NTP) ', 'time server (NTP) ') + (c.server || ''),
    disk: L('giờ lưu lần cuối trên thẻ nhớ (sau khi mất điện)', 'last time saved on the card (after a power cut)'),
    rtc: L('đồng hồ pin trên bo mạch (RTC)', 'battery clock on the board (RTC)'),
    officer: L('đặt tay bởi ', 'set by hand by ') + (c.by || '?'),
    build: L('ngày tạo phần mềm (chưa có nguồn giờ nào)', 'the software build date (no time source yet)'),
    host: L('đồng hồ của máy chủ', 'the host computer\'s clock'),
  }[c.source] || c.source);
  const load = async () => {
    let c;
    try { c = await api('/api/system/clock'); } catch (e) { fill(card, h('h2', {}, L('Đồng hồ', 'Clock')), h('p', {}, e.message)); return; }
    const skew = Date.now() - new Date(c.now).getTime();
    const rows = [
      [L('Giờ của đầu ghi', 'Box time'), h('span', { id: 'clock-now' }, fmtTime(c.now))],
      [L('Trạng thái', 'State'), h('span', { id: 'clock-state', class: c.synced ? '' : 'error' }, c.synced ? L('Đã đồng bộ', 'Synchronised') : L('CHƯA ĐỒNG BỘ: các đoạn ghi được đánh dấu', 'NOT SYNCHRONISED: recordings are marked'))],
      [L('Nguồn giờ', 'Time source'), h('span', { id: 'clock-source' }, sourceText(c) + (c.setAt ? ' · ' + fmtTime(c.setAt) : ''))],
      [L('Giờ điện thoại này lệch', 'This phone differs by'), h('span', { id: 'clock-skew' }, fmtNum(skew / 1000, 1) + ' s')],
    ];
    if (c.slewingMs) rows.push([L('Đang chỉnh dần', 'Slewing'), fmtNum(c.slewingMs / 1000, 1) + ' s']);
    if (c.lastError) rows.push([L('Lỗi đồng bộ gần nhất', 'Last sync error'), h('span', { class: 'mono' }, c.lastError)]);
    if (c.servers && c.servers.length) rows.push([L('Máy chủ NTP', 'NTP servers'), h('span', { class: 'mono' }, c.servers.join(', '))]);
    const set = c.canSet ? h('button', { id: 'clock-set', class: c.needsConfirm ? 'danger' : '', onclick: async () => {
      const body = { unixMs: Date.now(), confirm: false };
      if (c.needsConfirm) {
        if (!confirm(L('Đồng hồ đang được đồng bộ qua mạng. Vẫn đặt theo giờ của điện thoại này?', 'The clock is synchronised over the network. Set it from this phone anyway?'))) return;
        body.confirm = true;
      } else if (!confirm(L('Đặt giờ của đầu ghi thành ', 'Set the box\'s clock to ') + fmtTime(body.unixMs) + '?')) return;
      body.unixMs = Date.now();
      try { msg(status, (await api('/api/system/clock', { method: 'POST', json: body })).message, true); } catch (e) { msg(status, e.message); }
      await load();
    } }, L('Đặt giờ theo điện thoại này', 'Set from this phone')) : null;
    const sync = c.canSet && c.servers && c.servers.length ? h('button', { id: 'clock-sync', class: 'secondary', onclick: async () => {
      try { msg(status, (await api('/api/system/clock/sync', { method: 'POST' })).message, true); } catch (e) { msg(status, e.message); }
      setTimeout(load, 5000);
    } }, L('Đồng bộ ngay', 'Sync now')) : null;
    fill(card, h('h2', {}, L('Đồng hồ', 'Clock')), h('table', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))), status, sync,
      set ? h('p', { class: 'muted' }, L('Chỉ dùng khi đầu ghi không lấy được giờ qua mạng. Kiểm tra giờ điện thoại trước (đặt tự động theo nhà mạng).', 'Use only when the box cannot get the time from the network. Check the phone\'s time first (set automatically by the carrier).')) : null, set);
  };
  await load();
}

// The district link (technicians): the district's NATS server, this box's
// ID and credentials there, and the district key that signs clip requests.
async function districtCard(root) {
  let d;
  try { d = await api('/api/system/district'); } catch (e) { return; }
  const s = d.settings || {}, st = d.status || {};
  const status = h('p', { id: 'dist-msg' });
  const f = {};
  const inp = (k, attrs) => (f[k] = h('input', { value: s[k] || '', id: 'dist-' + k, autocomplete: 'off', ...attrs }));
  const state = !s.url ? L('chưa cấu hình', 'not set') : (st.connected ? L('đã kết nối', 'connected') : L('mất kết nối (sự kiện được giữ lại và gửi sau)', 'link down (events are kept and sent later)'));
  const rows = [
    [L('Trạng thái', 'State'), h('span', { id: 'dist-state' }, state + (st.error ? ' — ' + st.error : ''))],
    [L('Sự kiện đã gửi / đã ghi', 'Events sent / written'), h('span', { id: 'dist-acked' }, (st.acked || 0) + ' / ' + (st.lastSeq || 0))],
  ];
  root.append(h('div', { class: 'card', id: 'sys-district' }, h('h2', {}, L('Kết nối công an huyện', 'District link')),
    h('table', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))),
    h('p', { class: 'muted' }, L('Đầu ghi gửi mọi sự kiện và tình trạng mỗi phút tới máy chủ NATS của huyện; khi mất mạng, sự kiện được giữ lại (ít nhất 30 ngày) và gửi khi có mạng lại. Huyện chỉ lấy được đoạn video của camera được chia sẻ, bằng yêu cầu có chữ ký.', 'The box sends every event and its health every minute to the district\'s NATS server; while the link is down events are kept (30 days at least) and sent when it is back. The district gets clips only of shared cameras, by signed request.')),
    status,
    h('label', {}, L('Địa chỉ máy chủ huyện', 'District server address'), inp('url', { placeholder: 'nats://huyen.example:4222' })),
    h('label', {}, L('Mã đầu ghi tại huyện', 'Box ID at the district'), inp('box', { placeholder: 'xa-an-binh', maxlength: 32 })),
    h('label', {}, L('Khoá NKey của đầu ghi (SU…)', 'Box NKey seed (SU…)'), inp('nkeySeed', { type: 'password', placeholder: s.seedSet ? L('đã lưu — để trống để giữ', 'saved — leave empty to keep') : '' })),
    h('label', {}, L('Hoặc tệp thông tin đăng nhập (.creds)', 'Or a user credentials file (.creds)'), inp('credsFile', { placeholder: '/data/district.creds' })),
    h('label', {}, L('Chứng chỉ CA của huyện (tuỳ chọn)', 'District CA certificate (optional)'), inp('caFile', { placeholder: '/data/district-ca.pem' })),
    h('label', {}, L('Khoá công khai của huyện (ký yêu cầu trích xuất)', 'District public key (signs clip requests)'), inp('districtKey', { placeholder: 'base64' })),
    h('button', { id: 'dist-save', onclick: async () => {
      const body = {}; for (const k of Object.keys(f)) body[k] = f[k].value.trim();
      try { msg(status, (await api('/api/system/district', { method: 'POST', json: body })).message, true); } catch (e) { msg(status, e.message); }
    } }, L('Lưu và kết nối', 'Save and connect'))));
}

// Firmware update (technicians): choose a signed bundle, watch the upload
// (the box checks signature, board, version and every part as it
// arrives), read the manifest, confirm; the box writes the other slot
// and restarts into it, and goes back to the old one by itself if the new
// one does not come up healthy.
async function firmwareCard(root) {
  let f;
  try { f = await api('/api/firmware'); } catch (e) { return; } // not under the box's init
  const rel = f.release || {};
  const status = h('p', { id: 'fw-msg' });
  const bar = h('progress', { id: 'fw-progress', max: 100, value: 0, hidden: true, 'aria-label': L('Tiến độ', 'Progress') });
  const manifest = h('div', { id: 'fw-manifest' });
  const lines = h('pre', { class: 'logs', id: 'fw-lines', hidden: true, 'aria-live': 'polite' });
  const file = h('input', { type: 'file', id: 'fw-file', accept: '.bundle' });
  const install = h('button', { id: 'fw-install', hidden: true, onclick: async () => {
    if (!confirm(L('Đầu ghi sẽ ghi phiên bản mới rồi khởi động lại (ghi hình dừng khoảng 1–3 phút). Tiếp tục?', 'The box writes the new version and restarts (recording stops for about 1–3 minutes). Go on?'))) return;
    install.disabled = true; bar.hidden = false; bar.value = 0; lines.textContent = ''; lines.hidden = false;
    msg(status, L('Đang ghi phiên bản mới…', 'Writing the new version…'), true);
    try {
      const r = await fetch('/api/firmware/install', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf } });
      if (!r.ok) { let b = {}; try { b = await r.json(); } catch (e) { /* not JSON */ } msg(status, b.error || r.status + ' ' + r.statusText); return; }
      const reader = r.body.getReader(); const dec = new TextDecoder(); let text = '';
      for (;;) {
        const { done, value } = await reader.read(); if (done) break;
        text += dec.decode(value, { stream: true });
        const m = text.match(/progress (\d+)%\n(?![\s\S]*progress)/); if (m) bar.value = +m[1];
        lines.textContent = text.split('\n').filter((l) => l && l !== 'ok').join('\n');
        lines.scrollTop = lines.scrollHeight; // the newest line in view
      }
      if (/\nok\n$|^ok\n$/.test(text)) {
        msg(status, L('Đã ghi xong; đầu ghi đang khởi động lại vào phiên bản mới.', 'Written; the box is restarting into the new version.'), true);
        install.hidden = true; // written and armed: installing again would write the same slot
      }
      else msg(status, (text.match(/error: (.*)/) || [, text])[1]);
    } catch (e) { msg(status, e.message); } finally { install.disabled = false; }
  } }, L('Cài đặt và khởi động lại', 'Install and restart'));
  file.onchange = () => {
    const fl = file.files[0]; if (!fl) return;
    manifest.replaceChildren(); install.hidden = true; lines.hidden = true; bar.hidden = false; bar.value = 0; msg(status, L('Đang tải lên và kiểm tra…', 'Uploading and checking…'), true);
    const x = new XMLHttpRequest();
    x.open('POST', '/api/firmware/bundle'); x.setRequestHeader('X-CSRF-Token', csrf); x.setRequestHeader('Content-Type', 'application/octet-stream');
    x.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
    x.onload = () => {
      let b = {}; try { b = JSON.parse(x.responseText); } catch (e) { /* not JSON */ }
      if (x.status !== 200) { msg(status, b.error || x.status + ' ' + x.statusText); bar.hidden = true; return; }
      const m = b.manifest, r2 = m.release;
      manifest.append(h('table', {}, [
        [L('Phiên bản mới', 'New version'), r2.version + ' (' + fmtTime(r2.built) + ')'],
        [L('Bộ đếm chống hạ cấp', 'Anti-rollback counter'), String(r2.counter)],
        [L('Loại hộp', 'Board'), r2.board],
        [L('Thành phần', 'Parts'), m.parts.map((p) => p.name + (p.omitted ? L(' (giữ bản đang chạy)', ' (kept from the running version)') : ' ' + fmtBytes(p.size))).join(', ')],
      ].map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))));
      msg(status, L('Gói hợp lệ, đã ký. Kiểm tra rồi bấm cài đặt.', 'The bundle is valid and signed. Check it, then install.'), true);
      install.hidden = false;
    };
    x.onerror = () => msg(status, L('Tải lên thất bại', 'Upload failed'));
    x.send(fl);
  };
  const rows = [
    [L('Phiên bản đang chạy', 'Running version'), (rel.version || '—') + (rel.counter ? ' · ' + rel.counter : '')],
  ];
  const phases = { writing: L('đang ghi', 'writing'), armed: L('chờ khởi động lại', 'waiting for the restart'), confirmed: L('thành công', 'done'), failed: L('thất bại', 'failed'), 'rolled-back': L('đã quay về phiên bản cũ', 'rolled back'), refused: L('bị từ chối', 'refused'), interrupted: L('bị gián đoạn, phiên bản cũ vẫn chạy', 'interrupted, the old version still runs') };
  if (f.last) rows.push([L('Lần cập nhật gần nhất', 'Last update'), (phases[f.last.phase] || f.last.phase) + (f.last.to ? ' → ' + f.last.to : '') + (f.last.reason ? ': ' + f.last.reason : '')]);
  const card = h('div', { class: 'card', id: 'sys-firmware' }, h('h2', {}, L('Cập nhật phần mềm', 'Firmware update')));
  if (f.message) card.append(h('p', { class: 'error', id: 'fw-rolledback', role: 'alert' }, f.message));
  card.append(h('table', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))),
    h('label', {}, L('Gói cập nhật (.bundle)', 'Update bundle (.bundle)'), file), bar, status, manifest, install, lines);
  root.append(card);
}

// The uplink: the box's mDNS name, its addresses now, and the setting
// (DHCP or a static address) that init applies at the next boot.
async function networkCard(root) {
  const n = await api('/api/system/network');
  const status = h('p', { id: 'net-msg' });
  const mode = h('select', { id: 'net-mode' }, h('option', { value: 'dhcp' }, L('Tự động (DHCP)', 'Automatic (DHCP)')), h('option', { value: 'static' }, L('Địa chỉ tĩnh', 'Static address')));
  const addr = h('input', { id: 'net-address', placeholder: '192.168.1.50/24', inputmode: 'decimal', autocomplete: 'off' });
  const gw = h('input', { id: 'net-gateway', placeholder: '192.168.1.1', inputmode: 'decimal', autocomplete: 'off' });
  const dns = h('input', { id: 'net-dns', placeholder: '192.168.1.1, 8.8.8.8', autocomplete: 'off' });
  const fields = h('div', { class: 'row' }, h('label', {}, L('Địa chỉ/độ dài mạng', 'Address/prefix'), addr), h('label', {}, L('Cổng mặc định', 'Gateway'), gw), h('label', {}, L('Máy chủ DNS', 'DNS servers'), dns));
  const savedCell = h('span', { id: 'net-saved', class: 'mono' });
  const show = (f) => { savedCell.textContent = f ? (f.mode === 'dhcp' ? 'DHCP' : [f.address, f.gateway && L('cổng ', 'gateway ') + f.gateway, f.dns && f.dns.length && 'DNS ' + f.dns.join(', ')].filter((x) => x).join(' · ')) : L('mặc định của bo mạch', 'the board\'s default'); mode.value = f ? f.mode : 'dhcp'; addr.value = (f && f.address) || ''; gw.value = (f && f.gateway) || ''; dns.value = ((f && f.dns) || []).join(', '); fields.hidden = mode.value !== 'static'; };
  mode.onchange = () => { fields.hidden = mode.value !== 'static'; };
  show(n.saved);
  const url = n.host ? 'https://' + n.host + (location.port ? ':' + location.port : '') + '/' : null;
  const rows = [
    [L('Tên trên mạng (mDNS)', 'Name on the network (mDNS)'), url ? h('a', { href: url, id: 'net-host', class: 'mono' }, url) : '—'],
    [L('Cổng mạng', 'Uplink'), n.interface || '—'],
    [L('Địa chỉ hiện tại', 'Address now'), h('span', { class: 'mono', id: 'net-addresses' }, (n.addresses || []).join(', ') || '—')],
    [L('Cấu hình cho lần khởi động sau', 'Setting for the next boot'), savedCell],
  ];
  if (n.savedError) rows.push([L('Lỗi tệp cấu hình', 'Setting file error'), n.savedError]);
  const save = h('button', { id: 'net-save', onclick: async () => {
    const body = { mode: mode.value };
    if (mode.value === 'static') { body.address = addr.value.trim(); body.gateway = gw.value.trim(); body.dns = dns.value.split(/[,\s]+/).filter((x) => x); }
    if (!confirm(L('Đầu ghi sẽ dùng cấu hình mạng này từ lần khởi động lại tiếp theo. Tiếp tục?', 'The box uses this network setting from its next restart. Go on?'))) return;
    try { const a = await api('/api/system/network', { method: 'POST', json: body }); msg(status, a.message, true); show(a.saved); } catch (e) { msg(status, e.message); }
  } }, L('Lưu cho lần khởi động sau', 'Save for the next restart'));
  root.append(h('div', { class: 'card', id: 'sys-network' }, h('h2', {}, L('Mạng', 'Network')),
    h('table', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))),
    h('p', { class: 'muted' }, L('Nơi không có DHCP, đặt địa chỉ tĩnh ở đây, hoặc trước lần khởi động đầu bằng tệp matthan-network.txt trên phân vùng khởi động (xem README).', 'Where there is no DHCP, set a static address here, or before the first boot with the file matthan-network.txt on the boot partition (see the README).')),
    status, h('label', {}, L('Cách lấy địa chỉ', 'How the box gets its address'), mode), fields, save));
}

// The USB recording disk: the disks seen, where recordings go, the alarm
// when the disk is lost, and (technicians) the confirm that makes a disk
// the recording disk, formatting it unless it already is one.
async function systemDisks(root) {
  const card = h('div', { class: 'card', id: 'disks' });
  root.append(card);
  const contentName = (c) => ({ recording: L('ổ ghi hình Mắt Thần', 'Mắt Thần recording disk'), blank: L('trống', 'blank'), other: L('có dữ liệu khác', 'holds other data'), unknown: L('không đọc được', 'unreadable') }[c] || c);
  const health = (x) => [x.state === 'running' || !x.state ? L('hoạt động', 'running') : x.state === 'offline' ? L('ngừng hoạt động', 'offline') : L('trạng thái lạ', 'state') + ' (' + x.state + ')', x.ioErrors ? x.ioErrors + L(' lỗi đọc/ghi', ' I/O errors') : L('không lỗi', 'no errors'), 'SMART: ' + ({ passed: L('tốt', 'passed'), failing: L('SẮP HỎNG', 'FAILING'), unavailable: L('cầu nối USB không hỗ trợ', 'not passed by the USB bridge') }[x.smart] || x.smart)].join(', ');
  const status = h('p', { id: 'disk-msg' });
  const load = async () => {
    let st;
    try { st = await api('/api/disks'); } catch (e) { fill(card, h('h2', {}, L('Ổ ghi hình USB', 'USB recording disk')), h('p', {}, e.message)); return; }
    const where = st.state === 'disk' && st.recording ? L('Đang ghi vào ổ USB ', 'Recording onto the USB disk ') + st.recording.name + ' (' + [st.recording.vendor, st.recording.model].filter(Boolean).join(' ') + ')'
      : st.state === 'preparing' ? L('Đang chuẩn bị ổ…', 'Preparing the disk…') : L('Đang ghi vào thẻ nhớ', 'Recording onto the SD card');
    const rows = (st.disks || []).map((d) => {
      const isRec = st.recording && st.recording.id === d.id;
      let action = null;
      const running = !d.health || !d.health.state || d.health.state === 'running';
      if (role === 'technician' && !isRec && !d.inUse && !d.readOnly && running && st.state !== 'disk' && st.state !== 'preparing') {
        action = h('button', { class: d.content === 'recording' ? '' : 'danger', 'data-disk': d.id, onclick: async (ev) => {
          const warn = d.content === 'recording' ? L('Dùng ổ ' + d.name + ' làm ổ ghi hình?', 'Record onto ' + d.name + '?')
            : L('XOÁ TOÀN BỘ dữ liệu trên ổ ' + d.name + ' (' + (d.model || '') + ', ' + fmtBytes(d.sizeBytes) + ') và dùng làm ổ ghi hình?', 'ERASE EVERYTHING on ' + d.name + ' (' + (d.model || '') + ', ' + fmtBytes(d.sizeBytes) + ') and record onto it?');
          if (!confirm(warn)) return;
          ev.target.disabled = true;
          msg(status, L('Đang chuẩn bị ổ…', 'Preparing the disk…'), true);
          try { msg(status, (await api('/api/disks/confirm', { method: 'POST', json: { id: d.id } })).message, true); } catch (e) { msg(status, e.message); }
          await load();
        } }, d.content === 'recording' ? L('Dùng làm ổ ghi hình', 'Record onto it') : L('Xoá và dùng làm ổ ghi hình', 'Erase and record onto it'));
      }
      return h('tr', {}, h('td', {}, d.name + (isRec ? ' ● ' + L('đang ghi', 'recording') : '')), h('td', {}, [d.vendor, d.model].filter(Boolean).join(' ') + (d.serial ? ' · ' + d.serial : '')),
        h('td', {}, fmtBytes(d.sizeBytes)), h('td', {}, contentName(d.content) + (d.inUse ? L(' (đang gắn ở ', ' (mounted on ') + d.inUse + ')' : '')), h('td', {}, health(d.health || {})), h('td', {}, action));
    });
    fill(card, h('h2', {}, L('Ổ ghi hình USB', 'USB recording disk')),
      st.alarm ? h('p', { class: 'error', id: 'disk-alarm', role: 'alert' }, st.alarm) : null,
      st.alarm && st.expected ? h('p', {}, L('Ổ ghi hình: ', 'Recording disk: ') + [st.expected.vendor, st.expected.model].filter(Boolean).join(' ') + (st.expected.serial ? ' · ' + st.expected.serial : '') + ', ' + fmtBytes(st.expected.sizeBytes)) : null,
      st.state === 'lost' && role === 'technician' ? h('button', { class: 'secondary', id: 'disk-forget', onclick: async () => {
        if (!confirm(L('Không dùng ổ USB nữa và ghi vào thẻ nhớ?', 'Stop using the USB disk and record onto the SD card?'))) return;
        try { msg(status, (await api('/api/disks/forget', { method: 'POST' })).message, true); } catch (e) { msg(status, e.message); }
        await load();
      } }, L('Bỏ ổ này, ghi vào thẻ nhớ', 'Forget this disk, record onto the card')) : null,
      h('p', { id: 'disk-state' }, where), st.problem && !st.alarm ? h('p', { class: 'error' }, st.problem) : null, status,
      rows.length ? h('table', { id: 'disk-table' }, h('tr', {}, [L('Ổ', 'Disk'), L('Kiểu', 'Model'), L('Dung lượng', 'Size'), L('Nội dung', 'Content'), L('Tình trạng', 'Health'), ''].map((x) => h('th', {}, x))), rows)
        : h('p', {}, L('Chưa thấy ổ USB nào. Cắm ổ cứng USB vào đầu ghi.', 'No USB disk found. Plug a USB disk into the box.')));
  };
  await load();
  const timer = setInterval(() => { if (!document.body.contains(card)) clearInterval(timer); else load(); }, 5000);
}

// ---------- audit ----------
const actionName = (a) => ({ login: L('Đăng nhập', 'Log in'), login_failed: L('Đăng nhập sai', 'Failed login'), logout: L('Đăng xuất', 'Log out'), setup: L('Cài đặt lần đầu', 'First-time setup'),
  live_view: L('Xem trực tiếp', 'Live view'), playback: L('Xem lại', 'Playback'), export: L('Trích xuất', 'Export'), download: L('Tải đoạn ghi', 'Clip download'), change: L('Thay đổi cài đặt', 'Settings changed'),
  denied: L('Bị từ chối', 'Denied'), firmware_update: L('Cập nhật phần mềm', 'Firmware update'), checkpoint: L('Điểm ký nhật ký', 'Log checkpoint'), pruned: L('Xoá bản ghi nhật ký cũ', 'Old log records deleted'), gap: L('Nhật ký bị gián đoạn', 'Gap in the log'),
  unreadable: L('Bản ghi không đọc được', 'Unreadable record') }[a] || a);
const roleShort = (r) => ({ technician: L('kỹ thuật viên', 'technician'), officer: L('cán bộ', 'officer'), household: L('hộ gia đình', 'household') }[r] || r);
// auditDetails turns the log's detail (stable English, part of the hash
// chain) into words; the raw text stays behind "Chi tiết".
const auditDetails = [
  [/^uplink network for the next boot: (.*)/, (m) => L('Mạng cho lần khởi động sau: ', 'Network for the next boot: ') + m[1]],
  [/^box clock set from a phone: (\S+) \(was (\S+)\)/, (m) => L('Đặt giờ đầu ghi theo điện thoại: ', 'Box clock set from a phone: ') + fmtTime(m[1]) + L(' (trước đó ', ' (was ') + fmtTime(m[2]) + ')'],
  [/^own password changed/, () => L('Đổi mật khẩu của mình, các phiên khác đã kết thúc', 'Own password changed, other sessions ended')],
  [/^camera settings saved/, () => L('Lưu cài đặt camera', 'Camera settings saved')],
  [/^camera removed/, () => L('Xoá camera', 'Camera removed')],
  [/^camera pairing opened/, () => L('Mở ghép camera (2 phút)', 'Camera pairing opened (2 minutes)')],
  [/^camera pairing closed/, () => L('Đóng ghép camera', 'Camera pairing closed')],
  [/^camera paired \((.*), MAC (.*)\)/, (m) => L('Ghép camera mới: ', 'New camera paired: ') + m[1].trim() + ', MAC ' + (m[2] || '—')],
  [/^camera password changed on the camera/, () => L('Đổi mật khẩu trên camera', 'Camera password changed on the camera')],
  [/^household (\S+) saved/, (m) => L('Lưu hộ ', 'Household saved: ') + m[1]],
  [/^household (\S+) grants: (.*)/, (m) => L('Quyền xem camera đường của hộ ', 'Road cameras granted to ') + m[1] + ': ' + (m[2] || '—')],
  [/^grants of camera (\S+) dropped from (\d+) households/, (m) => L('Bỏ quyền xem camera ' + m[1] + ' của ' + m[2] + ' hộ (không còn là camera đường)', 'Grants of camera ' + m[1] + ' dropped from ' + m[2] + ' households')],
  [/^user (\S+) created \((\w+)/, (m) => L('Tạo tài khoản ', 'Account created: ') + m[1] + ' (' + roleShort(m[2]) + ')'],
  [/^physical officer reset used: technician (\S+) created officer (\S+)/, (m) => L('Kỹ thuật viên ' + m[1] + ' tạo cán bộ ' + m[2] + ' nhờ nút đặt lại trên đầu ghi', 'Technician ' + m[1] + ' created officer ' + m[2] + ' after the physical reset')],
  [/^physical officer reset: pairing button/, () => L('Nút ghép nối được giữ khi bật nguồn: cho phép tạo một cán bộ mới', 'Pairing button held at power-on: one new officer may be created')],
  [/^password reset for (\S+)/, (m) => L('Đặt lại mật khẩu cho ', 'Password reset for ') + m[1]],
  [/^user deleted: (\S+)/, (m) => L('Xoá tài khoản ', 'Account deleted: ') + m[1]],
  [/^notice acknowledged/, () => L('Đã xem thông báo', 'Notice acknowledged')],
  [/^recording disk confirmed: (.*)/, (m) => L('Xác nhận ổ ghi hình: ', 'Recording disk confirmed: ') + m[1]],
  [/^recording disk not prepared/, () => L('Không chuẩn bị được ổ ghi hình', 'Recording disk not prepared')],
  [/^recording disk in use: (.*)/, (m) => L('Đang ghi vào ổ: ', 'Recording disk in use: ') + m[1]],
  [/^recording disk forgotten/, () => L('Bỏ ổ ghi hình USB, ghi vào thẻ nhớ', 'USB recording disk forgotten, recording to the SD card')],
  [/^create officer: an officer exists/, () => L('Tạo cán bộ khi đã có cán bộ', 'Create an officer while one exists')],
  [/^(\S+)\.\.(\S+) sha256=\w+ gaps=(\d+)/, (m) => fmtTime(m[1]) + ' – ' + fmtTime(m[2]) + (+m[3] ? L(', ' + m[3] + ' khoảng trống', ', ' + m[3] + ' gaps') : '')],
  [/^records (\d+) to (\d+) deleted/, (m) => L('Bản ghi #' + m[1] + '–#' + m[2] + ' đã xoá để giữ dung lượng nhật ký', 'Records #' + m[1] + '–#' + m[2] + ' deleted to keep the log within its budget')],
  [/^(\d+) audit records could not be written/, (m) => L(m[1] + ' bản ghi nhật ký không ghi được', m[1] + ' audit records could not be written')],
  [/^other devices logged out/, () => L('Đăng xuất các thiết bị khác', 'Other devices logged out')],
  [/^device (\S+) logged out/, (m) => L('Đăng xuất thiết bị ', 'Device logged out: ') + m[1]],
  [/^IR lights mode (\w+)/, (m) => L('Chế độ đèn hồng ngoại: ', 'IR light mode: ') + irModeName(m[1])],
  [/^(GET|POST|HEAD|PUT|DELETE) /, () => L('Truy cập không được phép', 'Access not allowed')],
];
function auditDetail(d) {
  if (!d) return '';
  for (const [re, f] of auditDetails) { const m = d.match(re); if (m) return [f(m), ' ', more(d)]; }
  return d;
}
pages.audit = async (root) => {
  const v = h('p', { id: 'au-verify' });
  const table = h('table', { id: 'au-table' });
  const actor = h('input', { id: 'au-actor', placeholder: L('tên người dùng', 'user name'), 'aria-label': L('Người dùng', 'User') });
  const action = h('select', { id: 'au-action', 'aria-label': L('Hành động', 'Action') }, ['', 'login', 'login_failed', 'logout', 'setup', 'live_view', 'playback', 'export', 'download', 'change', 'denied', 'firmware_update', 'checkpoint', 'pruned', 'gap'].map((a) => h('option', { value: a }, a ? actionName(a) : L('Mọi hành động', 'Every action'))));
  const load = async () => {
    const p = new URLSearchParams(); if (actor.value) p.set('actor', actor.value); if (action.value) p.set('action', action.value);
    const r = await api('/api/audit?' + p);
    fill(table, h('tr', {}, ['#', L('Thời gian', 'Time'), L('Người', 'Actor'), L('Hành động', 'Action'), 'Camera', L('Chi tiết', 'Detail'), L('Địa chỉ IP', 'IP address')].map((x) => h('th', {}, x))),
      r.records.map((x) => h('tr', {}, h('td', {}, x.seq), h('td', {}, fmtTime(x.time)), h('td', {}, x.actor + (x.role ? ' (' + roleShort(x.role) + ')' : '')), h('td', {}, actionName(x.action) + (x.count > 1 ? ' ×' + x.count : '')), h('td', {}, x.camera || ''), h('td', {}, auditDetail(x.detail)), h('td', {}, x.ip || ''))));
  };
  const verify = async () => {
    const r = await api('/api/audit/verify');
    if (r.ok) {
      msg(v, L('Nhật ký nguyên vẹn, chưa bị sửa (' + r.records + ' bản ghi)', 'The log is intact, unaltered (' + r.records + ' records)') +
        (r.first_seq > 1 ? L('. Bản ghi trước #', '. Records before #') + r.first_seq + L(' đã xoá để giữ dung lượng.', ' were deleted to keep the disk budget.') : ''), true);
      v.append(' ', more(L('Mã băm đầu chuỗi: ', 'Chain head hash: ') + (r.head || '—'), r.signed_head ? h('br') : null, r.signed_head ? L('Bản ghi cuối đã ký: #', 'Last signed record: #') + r.signed_head : null));
    } else {
      msg(v, L('Nhật ký đã bị sửa hoặc hỏng tại bản ghi #', 'The log was altered or damaged at record #') + r.bad_seq);
      v.append(' ', more(r.problem || ''));
    }
  };
  root.append(h('h1', {}, L('Nhật ký hoạt động', 'Activity log')), v, h('div', { class: 'row' }, actor, action, h('button', { onclick: load }, L('Lọc', 'Filter')), h('button', { class: 'secondary', onclick: verify }, L('Kiểm tra nhật ký', 'Check the log'))), h('div', { class: 'card' }, table));
  await verify(); await load();
};

// ---------- account ----------
pages.account = async (root) => {
  const old = h('input', { type: 'password', id: 'ac-old', autocomplete: 'current-password' }), pw = h('input', { type: 'password', id: 'ac-new', autocomplete: 'new-password', minlength: 10 }), pw2 = h('input', { type: 'password', id: 'ac-new2', autocomplete: 'new-password' });
  const status = h('p', { id: 'ac-msg' });
  root.append(h('h1', {}, L('Tài khoản', 'Account')), h('div', { class: 'card narrow' }, h('h2', {}, L('Đổi mật khẩu', 'Change password')), status,
    h('label', {}, L('Mật khẩu hiện tại', 'Current password'), old), h('label', {}, L('Mật khẩu mới', 'New password'), pw), h('label', {}, L('Nhập lại', 'Again'), pw2),
    h('button', { id: 'ac-save', onclick: async () => { if (pw.value !== pw2.value) { msg(status, L('Hai mật khẩu không khớp.', 'The two passwords differ.')); return; } try { msg(status, (await api('/api/me/password', { method: 'POST', json: { old: old.value, password: pw.value } })).message, true); } catch (e) { msg(status, e.message); } } }, L('Lưu', 'Save'))));
  // The devices logged in to this account: end one, or all the others.
  const devs = h('div', { class: 'card narrow', id: 'ac-sessions' });
  root.append(devs);
  const end = async (body) => { const r = await api('/api/me/sessions/end', { method: 'POST', json: body }); if (r.current) location.assign('/login'); else showDevs(); };
  const showDevs = async () => {
    const r = await api('/api/me/sessions');
    fill(devs, h('h2', {}, L('Thiết bị đang đăng nhập', 'Logged-in devices')),
      r.sessions.map((x) => h('div', { class: 'row session', 'data-id': x.id },
        h('span', {}, (x.id === r.current ? L('Thiết bị này', 'This device') + ' · ' : '') + (x.agent || L('Trình duyệt', 'Browser')).replace(/^Mozilla\/5\.0 /, '').slice(0, 48)),
        h('span', { class: 'muted' }, (x.remember ? L('ghi nhớ 30 ngày', 'remembered 30 days') + ' · ' : '') + L('dùng lần cuối ', 'last used ') + fmtTime(x.lastSeen)),
        h('button', { class: 'secondary', onclick: () => end({ id: x.id }) }, x.id === r.current ? L('Đăng xuất thiết bị này', 'Log out this device') : L('Đăng xuất', 'Log out')))),
      r.sessions.length > 1 ? h('button', { id: 'ac-end-others', onclick: () => end({ others: true }) }, L('Đăng xuất các thiết bị khác', 'Log out the other devices')) : null);
  };
  await showDevs();
};

// labelTables names each cell after its column (data-label), so that on a
// phone a wide table shows as one card per row (app.css).
function labelTables(el) {
  for (const t of el.querySelectorAll('table')) {
    const head = t.querySelector('tr');
    if (!head || head.children.length < 2 || [...head.children].some((c) => c.tagName !== 'TH')) continue;
    head.classList.add('head');
    const names = [...head.children].map((c) => c.textContent);
    for (const tr of t.querySelectorAll('tr')) if (tr !== head) [...tr.children].forEach((td, i) => { if (names[i] && !td.dataset.label) td.dataset.label = names[i]; });
  }
}

document.addEventListener('DOMContentLoaded', () => {
  const mb = $('#menu-btn'); if (mb) mb.onclick = () => mb.setAttribute('aria-expanded', String($('#nav').classList.toggle('open')));
  const main = $('main'); if (main) new MutationObserver(() => labelTables(main)).observe(main, { childList: true, subtree: true });
  const page = document.body.dataset.page; const root = document.getElementById('page-' + page);
  if (root && pages[page]) pages[page](root).catch((e) => root.append(h('p', { class: 'error' }, e.message)));
});
