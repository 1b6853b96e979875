// Browser test of recorded sound (issue 14): an officer turns on "Ghi âm
// thanh / Record audio" for two cameras on the camera form (off by
// default); the camera list says so; the AAC camera's recording plays with
// its sound in Chromium's MSE (the decoder takes audio bytes); the G.711
// camera's recording (kept as LPCM, which MSE cannot play) plays its
// pictures and the page says where to hear the sound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBox, launchBrowser, firstBoot, shots } from './harness.mjs';

const PW = 'mat-khau-rat-dai-3';
let box, ctx, page;

before(async () => {
  box = await startBox({ cameras: 2, segment: '4s', motion: false, audio: '1=aac,2=pcma' });
  ctx = await launchBrowser({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, locale: 'vi-VN' });
  page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await firstBoot(page, box, PW);
});
after(async () => { await ctx?.close(); await box?.stop(); });

async function switchSound(cam) {
  await page.goto(box.url + '/cameras');
  await page.waitForSelector('#cam-table tr:nth-child(2)');
  await page.locator('#cam-table tr', { hasText: cam }).getByRole('button', { name: 'Sửa' }).tap();
  const box_ = page.locator('#cam-recordAudio');
  assert.equal(await box_.isChecked(), false, `${cam}: sound is recorded by default`);
  await box_.check();
  await page.tap('#cam-save');
  await page.waitForFunction(() => /ok|Đã lưu|lưu/i.test(document.querySelector('#cam-msg').textContent), null, { timeout: 10000 });
}

// playFrom plays cam's newest whole segment; it resolves to what the page
// knows then.
async function playNewest(cam, since) {
  for (let i = 0; i < 20; i++) {
    await page.goto(box.url + '/playback?camera=' + cam);
    await page.waitForFunction(() => window.mtPlayback && document.querySelector('#pb-info').textContent, null, { timeout: 10000 });
    const segs = await page.evaluate(() => window.mtPlayback.segments());
    const s = segs.filter((x) => x.s > since && x.e - x.s > 2000)[0];
    if (s) {
      const hms = await page.evaluate((t) => localInput(new Date(t), true).slice(11, 19), s.s + 500);
      await page.fill('#pb-time', hms);
      await page.tap('#pb-go');
      await page.waitForFunction(() => window.mtPlayback.firstFrameMs() !== null, null, { timeout: 15000 });
      await page.waitForTimeout(1500);
      return page.evaluate(() => ({ audioBytes: document.querySelector('video').webkitAudioDecodedByteCount, note: document.querySelector('#pb-audio')?.textContent || '', t: window.mtPlayback.now() }));
    }
    await page.waitForTimeout(2000);
  }
  throw new Error(`${cam}: no segment recorded with sound`);
}

test('sound: off by default, turned on per camera, stated in the list; AAC plays in the page, LPCM is explained', async () => {
  const since = Date.now();
  await switchSound('cam1');
  await switchSound('cam2');
  await page.goto(box.url + '/cameras');
  await page.waitForSelector('#cam-table .badge.audio');
  assert.equal(await page.locator('#cam-table .badge.audio').count(), 2, 'the list does not say the cameras record sound');
  assert.match(await page.locator('#cam-table .badge.audio').first().innerText(), /Ghi âm thanh/);

  const aac = await playNewest('cam1', since);
  assert.ok(aac.audioBytes > 0, `AAC recording: Chromium decoded no sound (${JSON.stringify(aac)})`);
  assert.match(aac.note, /AAC/);
  const lpcm = await playNewest('cam2', since);
  assert.match(lpcm.note, /trình duyệt không phát được/, `LPCM recording: the page does not say so (${JSON.stringify(lpcm)})`);
  console.log('# sound', JSON.stringify({ aac, lpcm }));
  await page.screenshot({ path: join(shots, 'phone-playback-lpcm-note.png') });
});
