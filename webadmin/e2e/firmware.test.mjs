// The firmware update card of the system page in real Chromium, against
// webtestd and a fake init (hwtest/cmd/fakeinit) that installs with the
// real firmware/update flow into a boot partition made of folders. Bundles
// are written by the project's bundle writer and signed with a test key
// the box trusts. A technician uploads (the progress bar moves), reads the
// manifest before confirming, confirms, and watches the install's
// progress lines; refused bundles say why in Vietnamese, then English, and
// write nothing; officers and households have no card; on a phone the card
// fits and every tap target is ≥ 44 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startBoxWithUsers, launchBrowser, login, logout, shots, measure } from './harness.mjs';

const PW = 'mat-khau-rat-dai-1';
let box, fw;

before(async () => {
  box = await startBoxWithUsers({ cameras: 1, firmware: true }, PW);
  fw = box.firmware;
});
after(async () => { await box?.stop(); });

// slotB lists what the install wrote: slot b's files and the loader entries.
function written() {
  const b = join(fw.esp, 'matthan', 'b');
  return { files: existsSync(b) ? readdirSync(b).sort() : [], entries: readdirSync(join(fw.esp, 'loader', 'entries')).sort() };
}

// openCard logs the technician in on page and opens the system page's card.
async function openCard(page) {
  await login(page, box.url, 'kythuat', PW);
  await page.goto(box.url + '/system');
  await page.waitForSelector('#sys-firmware #fw-file', { timeout: 15000 });
}

// recordBar samples the progress bar's value every 10 ms into window.__bar.
function recordBar(page) {
  return page.evaluate(() => {
    window.__bar = [];
    const bar = document.getElementById('fw-progress');
    setInterval(() => { const v = bar.hidden ? -1 : bar.value; if (window.__bar.at(-1) !== v) window.__bar.push(v); }, 10);
  });
}

// technicianPage opens the card as the technician on an uplink throttled
// to 2 MiB/s (6 MiB take ~3 s: the bar has time to move, and a refusal
// comes while the browser is still sending); errors collects the page's
// script errors.
async function technicianPage() {
  const ctx = await launchBrowser();
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 2 << 20 });
  await openCard(page);
  return { ctx, page, errors };
}

test('refused bundles: Vietnamese then English, nothing written, no install button', async () => {
  const { ctx, page, errors } = await technicianPage();
  try {
    for (const [file, vi, en] of [
      ['wrong-board.bundle', 'Gói cập nhật dành cho loại hộp khác: không cài.', 'The bundle is for another board: not installed.'],
      ['bad-signature.bundle', 'Chữ ký của gói cập nhật không hợp lệ', "The bundle's signature is not valid"],
    ]) {
      await page.setInputFiles('#fw-file', join(fw.bundles, file));
      await page.waitForSelector('#fw-msg.error', { timeout: 20000 });
      const text = await page.textContent('#fw-msg');
      assert.ok(text.startsWith(vi) && text.includes(' / ' + en) && text.indexOf(vi) < text.indexOf(en), `${file}: message ${JSON.stringify(text)}`);
      assert.equal(await page.isVisible('#fw-install'), false, `${file}: the install button shows`);
      assert.equal(await page.locator('#fw-manifest table').count(), 0, `${file}: a manifest shows`);
      assert.deepEqual(written().files, [], `${file}: slot b written`);
      await page.locator('#sys-firmware').screenshot({ path: join(shots, `firmware-refused-${file}.png`) });
      // Reset the file input so the next file fires a change.
      await page.setInputFiles('#fw-file', []);
    }
    assert.deepEqual(written().entries, ['matthan-a.conf'], 'a refused bundle touched the loader entries');
    assert.deepEqual(errors, [], 'page errors');
  } finally {
    await ctx.close();
  }
});

test('technician: upload with a moving progress bar, manifest before confirming, install progress lines', async () => {
  const { ctx, page, errors } = await technicianPage();
  try {
    const running = await page.textContent('#sys-firmware');
    assert.ok(running.includes('e2e-v1') && running.includes('100'), `running version not shown: ${running}`);
    await recordBar(page);
    await page.setInputFiles('#fw-file', join(fw.bundles, 'good.bundle'));
    await page.waitForSelector('#fw-manifest table', { timeout: 60000 });
    const up = await page.evaluate(() => window.__bar);
    const mid = up.filter((v) => v > 0 && v < 100);
    assert.ok(mid.length >= 2, `the upload bar did not move: values ${JSON.stringify(up)}`);
    assert.ok(up.filter((v) => v >= 0).every((v, i, a) => i === 0 || v >= a[i - 1]), `the upload bar went back: ${JSON.stringify(up)}`);
    assert.equal(up.at(-1), 100, `upload bar ended at ${up.at(-1)}`);
    // The manifest, before anything is written.
    const man = await page.textContent('#fw-manifest');
    for (const want of ['e2e-v2', '200', 'qemu-virt', 'initrd.cpio', 'cmdline.txt', 'vmlinuz (giữ bản đang chạy)', 'initrd.cpio 6,0 MB']) {
      assert.ok(man.includes(want), `manifest lacks ${JSON.stringify(want)}: ${man}`);
    }
    assert.ok(await page.isVisible('#fw-install'), 'no install button after a good bundle');
    assert.match(await page.textContent('#fw-msg'), /^Gói hợp lệ, đã ký/);
    assert.deepEqual(written(), { files: [], entries: ['matthan-a.conf'] }, 'written before the technician confirmed');
    await page.locator('#sys-firmware').screenshot({ path: join(shots, 'firmware-manifest.png') });

    // Confirm: the install's progress lines come back as init writes them.
    let asked = '';
    page.once('dialog', (d) => { asked = d.message(); d.accept(); });
    await page.evaluate(() => { window.__bar = []; });
    await page.click('#fw-install');
    await page.waitForFunction(() => /Đã ghi xong/.test(document.getElementById('fw-msg').textContent), null, { timeout: 60000 });
    assert.match(asked, /khởi động lại/, `confirmation asked ${JSON.stringify(asked)}`);
    const lines = await page.textContent('#fw-lines');
    assert.ok(await page.isVisible('#fw-lines'), 'progress lines hidden');
    assert.match(lines, /progress 100%/, `lines: ${lines}`);
    assert.match(lines, /installed e2e-v2 counter 200: rebooting/, `lines: ${lines}`);
    assert.ok(lines.split('\n').filter((l) => l.startsWith('progress ')).length >= 10, `few progress lines: ${lines}`);
    const pre = await page.$eval('#fw-lines', (e) => ({ top: e.scrollTop, h: e.clientHeight, all: e.scrollHeight }));
    assert.ok(pre.top + pre.h >= pre.all - 2, `the newest install line is scrolled out of view: ${JSON.stringify(pre)}`);
    assert.equal(await page.isVisible('#fw-install'), false, 'the install button still shows after the install');
    const inst = await page.evaluate(() => window.__bar);
    assert.ok(inst.filter((v) => v > 0 && v < 100).length >= 3 && inst.at(-1) === 100, `install bar: ${JSON.stringify(inst)}`);
    // The real slot code wrote slot b and armed its trial.
    const w = written();
    assert.deepEqual(w.files, ['cmdline.txt', 'initrd.cpio', 'vmlinuz'], `slot b: ${JSON.stringify(w)}`);
    assert.ok(w.entries.includes('matthan-b+3.conf'), `entries: ${w.entries}`);
    assert.equal(statSync(join(fw.esp, 'matthan', 'b', 'initrd.cpio')).size, 6 << 20);
    await page.locator('#sys-firmware').screenshot({ path: join(shots, 'firmware-installed.png') });
    // After a reload the card says the box waits for its restart.
    await page.reload();
    await page.waitForSelector('#sys-firmware #fw-file');
    assert.match(await page.textContent('#sys-firmware'), /chờ khởi động lại → e2e-v2/);
    assert.deepEqual(errors, [], 'page errors');
  } finally {
    await ctx.close();
  }
});

test('officer and household: no firmware card, and the API refuses them', async () => {
  const ctx = await launchBrowser();
  const page = await ctx.newPage();
  try {
    for (const user of ['canbo', 'nha-an']) {
      await login(page, box.url, user, PW);
      await page.goto(box.url + '/system');
      await page.waitForLoadState('networkidle');
      if (user === 'canbo') await page.waitForSelector('#sys-logs', { timeout: 15000 });
      assert.equal(await page.locator('#sys-firmware').count(), 0, `${user} sees the firmware card`);
      const codes = await page.evaluate(async () => {
        const csrf = document.querySelector('meta[name=csrf]')?.content || '';
        const get = (await fetch('/api/firmware')).status;
        const post = (await fetch('/api/firmware/bundle', { method: 'POST', headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/octet-stream' }, body: 'x' })).status;
        const inst = (await fetch('/api/firmware/install', { method: 'POST', headers: { 'X-CSRF-Token': csrf } })).status;
        return [get, post, inst];
      });
      assert.deepEqual(codes, [403, 403, 403], `${user}: /api/firmware answers ${codes}`);
      await logout(page);
    }
  } finally {
    await ctx.close();
  }
});

const phones = [
  { name: 'phone390', opts: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, locale: 'vi-VN' } },
  { name: 'narrow360', opts: { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: 'vi-VN' } },
];

for (const ph of phones) {
  test(`${ph.name}: the card with a manifest and install lines fits, tap targets ≥ 44 px`, async () => {
    const ctx = await launchBrowser(ph.opts);
    const page = await ctx.newPage();
    try {
      await openCard(page);
      const problems = [];
      const check = async (when) => {
        const m = await page.evaluate(measure);
        if (m.small.length) problems.push(`${when}: under 44 px: ${m.small.join('; ')}`);
        if (m.scrollWidth > m.innerWidth) problems.push(`${when}: ${m.scrollWidth} px wide on ${m.innerWidth} (${m.wide.join(', ')})`);
      };
      await check('card');
      await page.setInputFiles('#fw-file', join(fw.bundles, 'wrong-board.bundle'));
      await page.waitForSelector('#fw-msg.error', { timeout: 20000 });
      await check('refusal');
      await page.setInputFiles('#fw-file', join(fw.bundles, 'good.bundle'));
      await page.waitForSelector('#fw-manifest table', { timeout: 60000 });
      await page.locator('#fw-install').scrollIntoViewIfNeeded();
      await check('manifest');
      await page.locator('#sys-firmware').screenshot({ path: join(shots, `firmware-${ph.name}.png`) });
      assert.deepEqual(problems, [], problems.join('\n'));
    } finally {
      await ctx.close();
    }
  });
}
