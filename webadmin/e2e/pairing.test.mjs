// Pairing a camera on a phone (390×844, vi-VN), in real Chromium: an
// officer opens pairing with the "Ghép camera" switch, the camera found on
// the camera network shows as new, the officer enters its login (the box
// asks the simulated camera's ONVIF service), names it, gives it to a
// household, saves, and the box starts recording it; a live preview plays
// once the login is entered. The camera's password
// never comes back to the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBox, launchBrowser, firstBoot, apiCall, shots, PAIR_PASSWORD } from './harness.mjs';

const PW = 'mat-khau-rat-dai-1';
let box;

before(async () => { box = await startBox({ cameras: 1, pairCamera: true }); });
after(async () => { await box?.stop(); });

test('officer pairs a new camera from the phone', async () => {
  const ctx = await launchBrowser({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'vi-VN' });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  try {
    await firstBoot(page, box, PW);
    const r = await apiCall(page, '/api/households', { id: 'ho-binh', name: 'Nhà bà Bình', address: 'Xóm 2' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await page.goto(box.url + '/cameras');
    await page.waitForSelector('#pair-switch');
    assert.equal(await page.locator('.pair-cand').count(), 0, 'a camera is listed before pairing opens');
    await page.click('#pair-switch');
    await page.waitForFunction(() => document.querySelector('#pair-switch').textContent.includes('Dừng'));
    await page.waitForSelector('.pair-cand', { timeout: 15000 });
    const cand = page.locator('.pair-cand').first();
    assert.match(await cand.locator('.pair-info').textContent(), /MAC 02:00:00:00:e2:01/);
    // A wrong password first: refused, and not sent twice.
    await cand.locator('.pair-pass').fill('sai-mat-khau');
    await cand.locator('.pair-login').click();
    await page.waitForFunction(() => /Sai tên hoặc mật khẩu/.test(document.querySelector('.pair-state').textContent), null, { timeout: 15000 });
    await cand.locator('.pair-pass').fill('sai-mat-khau');
    await cand.locator('.pair-login').click();
    await page.waitForFunction(() => /không thử lại/.test(document.querySelector('.pair-state').textContent), null, { timeout: 15000 });
    await cand.locator('.pair-pass').fill(PAIR_PASSWORD);
    await cand.locator('.pair-login').click();
    await page.waitForFunction(() => /Đã nhận camera/.test(document.querySelector('.pair-state').textContent), null, { timeout: 20000 });
    assert.match(await cand.locator('.pair-info').textContent(), /Hikvision/);
    // The live preview plays (a live-only camera, listed nowhere).
    await page.waitForFunction(() => Object.entries(window.mtLive).some(([k, s]) => k.startsWith('pair-') && s.firstFrameMs !== null), null, { timeout: 30000 });
    const listed = await page.evaluate(async () => (await (await fetch('/api/cameras')).json()).cameras.map((c) => c.id));
    assert.ok(!listed.some((id) => id.startsWith('pair-')), 'the preview is listed as a camera: ' + listed);
    await cand.locator('.pair-id').fill('cong-binh');
    await cand.locator('.pair-name').fill('Cổng nhà bà Bình');
    await cand.locator('.pair-household').selectOption('ho-binh');
    await page.screenshot({ path: join(shots, 'pairing-phone.png'), fullPage: true });
    await cand.locator('.pair-pair').click();
    await page.waitForSelector('#cam-table td:text("cong-binh")', { timeout: 15000 });
    assert.equal(await page.locator('.pair-cand').count(), 0, 'the paired camera is still listed as new');
    // The box records it (the main stream through the login from ONVIF).
    const deadline = Date.now() + 40000;
    let cam;
    for (;;) {
      const cams = await page.evaluate(async () => (await (await fetch('/api/cameras')).json()).cameras);
      cam = cams.find((c) => c.id === 'cong-binh');
      if (cam && cam.recording) break;
      if (Date.now() > deadline) assert.fail('paired camera not recording: ' + JSON.stringify(cam));
      await page.waitForTimeout(500);
    }
    assert.equal(cam.household, 'ho-binh');
    assert.equal(await page.locator('.pair-video').count(), 0, 'the preview stays after pairing');
    assert.match(cam.settings.subUrl, /\/cam2\/sub$/);
    const html = await page.content();
    const api = await page.evaluate(async () => JSON.stringify(await (await fetch('/api/cameras')).json()) + JSON.stringify(await (await fetch('/api/pairing')).json()) + JSON.stringify(await (await fetch('/api/audit')).json()));
    for (const text of [html, api, box.log()]) assert.ok(!text.includes(PAIR_PASSWORD), 'the camera password shows');
    await page.screenshot({ path: join(shots, 'pairing-done-phone.png'), fullPage: true });
  } finally {
    await ctx.close();
  }
});
