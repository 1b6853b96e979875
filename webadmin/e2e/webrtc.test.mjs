// Live view over WebRTC in headless Chromium, on a phone-sized screen
// (390×844, vi-VN): the box answers the page's offer with its address on
// its one UDP port (127.0.0.1 here), the picture advances and the tile says
// "WebRTC". MSE stays the fallback: switched on by the page's ?live=mse, and
// taken by itself when UDP is blocked (Chromium's WebRTC policy: UDP only through a
// proxy, and there is none: the connection never comes up and the page falls back within ~2.5 s).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBox, launchBrowser, firstBoot, login, apiCall, shots } from './harness.mjs';

const PW = 'mat-khau-rat-dai-1';
const phone = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, locale: 'vi-VN' };
let box, ctx, page;

before(async () => {
  box = await startBox({ cameras: 2, segment: '10s', motion: false, audio: '2=pcma' });
  ctx = await launchBrowser(phone);
  page = await ctx.newPage();
  await firstBoot(page, box, PW);
});
after(async () => {
  if (ctx) await ctx.close();
  if (box) await box.stop();
});

// advancing waits for cam's picture to move on by more than 1 s in 2 s
// and returns the tile's stats.
async function advancing(p, cam) {
  const h = await p.waitForFunction((c) => {
    const v = document.querySelector(`video[data-camera=${c}]`);
    return v && v.currentTime > 0 && window.mtLive[c] && window.mtLive[c].firstFrameMs !== null ? v.currentTime : false;
  }, cam, { timeout: 20000 });
  const t0 = await h.jsonValue();
  await p.waitForTimeout(2000);
  const t1 = await p.evaluate((c) => document.querySelector(`video[data-camera=${c}]`).currentTime, cam);
  assert.ok(t1 - t0 > 1.0, `${cam}: live video did not advance: ${t0} -> ${t1}`);
  return p.evaluate((c) => ({ ...window.mtLive[c], badge: document.querySelector(`#tile-${c} .via`).textContent, rtc: !!document.querySelector(`video[data-camera=${c}]`).srcObject, lat: window.mtLive[c].latencyMs() }), cam);
}

test('phone: live over WebRTC, one camera and the wall, badge says WebRTC', async () => {
  await page.goto(box.url + '/live?camera=cam1&live=auto');
  const st = await advancing(page, 'cam1');
  assert.equal(st.via, 'WebRTC');
  assert.equal(st.badge, 'WebRTC');
  assert.ok(st.rtc, 'video without a WebRTC stream');
  assert.ok(st.lat !== null && st.lat > -100 && st.lat < 3000, `latency ${st.lat}`);
  console.log(`webrtc: first frame ${Math.round(st.firstFrameMs)} ms after the tile, latency ${Math.round(st.lat)} ms`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.equal(overflow, false, 'page wider than the phone screen');
  await page.screenshot({ path: join(shots, 'webrtc-phone.png') });
  // The wall (sub streams on a phone): both cameras over one connection.
  await page.goto(box.url + '/live');
  for (const cam of ['cam1', 'cam2']) {
    const s = await advancing(page, cam);
    assert.equal(s.via, 'WebRTC', `${cam} via ${s.via} (${s.fallback})`);
    assert.equal(s.stream, 'sub');
  }
  await page.screenshot({ path: join(shots, 'webrtc-phone-wall.png') });
});

test('phone: a camera with its sound switch on plays its G.711 over WebRTC, muted until a tap; the wall is silent', async () => {
  const cams = await page.evaluate(async () => (await (await fetch('/api/cameras')).json()).cameras);
  const r = await apiCall(page, '/api/cameras', { ...cams.find((c) => c.id === 'cam2').settings, recordAudio: true });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  // The camera restarts with its sound passed on: a page opened before
  // that has no sound (the track is set at the answer), a new one has.
  let heard = false;
  for (let i = 0; i < 5 && !heard; i++) {
    await page.waitForTimeout(2000);
    await page.goto(box.url + '/live?camera=cam2');
    heard = await page.waitForSelector('#tile-cam2 .sound:not([hidden])', { timeout: 5000 }).then(() => true, () => false);
  }
  assert.ok(heard, 'no sound button');
  const st = await advancing(page, 'cam2');
  assert.equal(st.via, 'WebRTC');
  assert.equal(await page.evaluate(() => document.querySelector('video[data-camera=cam2]').muted), true, 'sound on before a tap');
  await page.click('#tile-cam2 .sound');
  const snd = await page.evaluate(() => {
    const v = document.querySelector('video[data-camera=cam2]');
    const a = v.srcObject.getAudioTracks()[0];
    return { muted: v.muted, track: !!a && a.readyState === 'live', label: document.querySelector('#tile-cam2 .sound').getAttribute('aria-label') };
  });
  assert.deepEqual(snd, { muted: false, track: true, label: 'Tắt tiếng' });
  // G.711 packets arrive (20 ms each): the box passes the camera's sound on as it is.
  let audio = { n: 0, codecs: [] };
  for (const until = Date.now() + 10000; audio.n < 25 && Date.now() < until; await page.waitForTimeout(250)) {
    audio = await page.evaluate(async () => {
      let n = 0;
      const codecs = [];
      (await window.mtRTC.getStats()).forEach((x) => {
        if (x.type === 'inbound-rtp' && x.kind === 'audio') n = x.packetsReceived;
        if (x.type === 'codec' && x.mimeType.startsWith('audio/')) codecs.push(x.mimeType);
      });
      return { n, codecs };
    });
  }
  assert.ok(audio.n >= 25, `${audio.n} sound packets`);
  assert.deepEqual(audio.codecs, ['audio/PCMA'], `audio codecs ${audio.codecs}`);
  const tap = await page.locator('#tile-cam2 .sound').boundingBox();
  assert.ok(tap.width >= 44 && tap.height >= 44, `sound button ${tap.width}×${tap.height}`);
  await page.screenshot({ path: join(shots, 'webrtc-phone-sound.png') });
  await page.goto(box.url + '/live');
  await advancing(page, 'cam2');
  assert.equal(await page.locator('#tile-cam2 .sound').isHidden(), true, 'the wall plays sound');
});

test('phone: ?live=mse switches WebRTC off, MSE plays and says so', async () => {
  await page.goto(box.url + '/live?camera=cam1&live=mse');
  const st = await advancing(page, 'cam1');
  assert.equal(st.via, 'MSE');
  assert.equal(st.badge, 'MSE');
  assert.ok(!st.rtc);
  await page.screenshot({ path: join(shots, 'mse-phone.png') });
  await page.goto(box.url + '/live?camera=cam1&live=auto'); // back to the default for the next tests
  assert.equal((await advancing(page, 'cam1')).via, 'WebRTC');
});

test('UDP blocked: the page falls back to MSE by itself and plays', async () => {
  // WebRTC over UDP only through a proxy, and there is none: no UDP at all.
  const blocked = await launchBrowser(phone, { webrtc: { ip_handling_policy: 'disable_non_proxied_udp' } });
  try {
    const p = await blocked.newPage();
    await login(p, box.url, 'canbo', PW);
    await p.goto(box.url + '/live?camera=cam1');
    const st = await advancing(p, 'cam1');
    assert.equal(st.via, 'MSE', `via ${st.via}`);
    assert.equal(st.badge, 'MSE');
    assert.ok(st.fallback, 'no reason for the fallback recorded');
    console.log(`UDP blocked: MSE after "${st.fallback}", first frame ${Math.round(st.firstFrameMs)} ms after the fallback`);
    await p.screenshot({ path: join(shots, 'webrtc-blocked-mse.png') });
  } finally {
    await blocked.close();
  }
});
