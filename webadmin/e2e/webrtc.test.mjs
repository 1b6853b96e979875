// Live view over WebRTC in headless Chromium, on a phone-sized screen
// (390×844, vi-VN): the box answers the page's offer with its address on
// its one UDP port (127.0.0.1 here), the picture advances and the tile says
// "WebRTC". MSE stays the fallback: switched on by the page's ?live=mse, and
// taken by itself when UDP is blocked (Chromium's WebRTC policy: UDP only through a
// proxy, and there is none: the connection never comes up and the page falls back within ~2.5 s).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBox, launchBrowser, firstBoot, login, shots } from './harness.mjs';

const PW = 'mat-khau-rat-dai-1';
const phone = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, locale: 'vi-VN' };
let box, ctx, page;

before(async () => {
  box = await startBox({ cameras: 2, segment: '10s', motion: false });
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
