// End-to-end tests of the admin page in real headless Chromium against the
// test server over simulated cameras: first-boot setup, login, live video
// playing, playback seek, export whose SHA-256 matches, search, the USB
// recording disk confirmed by the technician (a fake sysfs tree), and a
// household that cannot reach a foreign camera by URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startBox, launchBrowser, login, logout, apiCall, shots } from './harness.mjs';

const PW = 'mat-khau-rat-dai-1';
let box, ctx, page;

before(async () => {
  box = await startBox({ cameras: 2 });
  ctx = await launchBrowser();
  page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  page.on('console', (m) => { if (m.type() === 'error') console.error('console:', m.text()); });
});
after(async () => { await ctx?.close(); await box?.stop(); });

test('Chromium can play H.264 in Media Source Extensions', async () => {
  await page.goto(box.url + '/login');
  const ok = await page.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="avc1.4d401f"'));
  assert.equal(ok, true, 'this Chromium has no H.264 in MSE');
});

test('plain HTTP redirects to HTTPS', async () => {
  const r = await fetch(box.httpURL + '/live', { redirect: 'manual' });
  assert.equal(r.status, 301);
  assert.match(r.headers.get('location'), /^https:\/\/127\.0\.0\.1:\d+\/live$/);
});

test('first boot: setup code creates the technician; no default password', async () => {
  await page.goto(box.url + '/');
  assert.match(page.url(), /\/setup$/);
  // Logging in before setup does not work for any guess.
  const r = await page.evaluate(async () => (await fetch('/login', { method: 'POST', body: new URLSearchParams({ username: 'admin', password: 'admin' }) })).status);
  assert.equal(r, 401);
  await page.goto(box.url + '/setup');
  await page.fill('#code', 'WRONG-CODE-0000');
  await page.fill('#username', 'kythuat');
  await page.fill('#password', PW);
  await page.fill('#password2', PW);
  await page.click('#setup-btn');
  await page.waitForSelector('#error');
  await page.fill('#code', box.setupCode());
  await page.fill('#password', PW);
  await page.fill('#password2', PW);
  await Promise.all([page.waitForNavigation(), page.click('#setup-btn')]);
  await page.waitForSelector('#notice');
  await page.screenshot({ path: join(shots, 'setup-done.png') });
  await page.goto(box.url + '/setup');
  assert.match(page.url(), /\/login$/, 'setup page must be gone after first use');
});

test('login, system page with certificate fingerprint, technician creates an officer', async () => {
  await login(page, box.url, 'kythuat', 'wrong-password');
  await page.waitForSelector('#error');
  await login(page, box.url, 'kythuat', PW);
  assert.match(page.url(), /\/system$/);
  await page.waitForSelector('#sys-fp');
  const fp = await page.textContent('#sys-fp');
  assert.match(fp, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  // The box key's fingerprint is published beside it, with the key itself.
  assert.match(await page.textContent('#sys-boxkey'), /^([0-9A-F]{4}-){15}[0-9A-F]{4}$/);
  assert.ok(await page.$('#sys-boxkey-dl'), 'no public key download on the system page');
  // The clock card: the box's time, its state and its source (webtestd
  // runs on the host, whose clock it only watches: no setting by hand).
  await page.waitForSelector('#clock-state');
  assert.equal(await page.textContent('#clock-state'), 'Đã đồng bộ');
  assert.match(await page.textContent('#clock-source'), /đồng hồ của máy chủ/);
  assert.equal(await page.$('#clock-set'), null, 'host mode offers to set the host clock');
  await page.screenshot({ path: join(shots, 'system.png'), fullPage: true });
  // Network card: the box's name, and a static address for the next boot
  // (written where init reads it), refused first for a gateway off the network.
  await page.waitForSelector('#sys-network');
  assert.match(await page.textContent('#net-host'), /^https:\/\/matthan-3456\.local:\d+\/$/);
  await page.selectOption('#net-mode', 'static');
  await page.fill('#net-address', '192.168.1.50/24');
  await page.fill('#net-gateway', '192.168.2.1');
  page.once('dialog', (d) => d.accept());
  await page.click('#net-save');
  await page.waitForSelector('#net-msg.error');
  assert.match(await page.textContent('#net-msg'), /192\.168\.2\.1/);
  await page.fill('#net-gateway', '192.168.1.1');
  await page.fill('#net-dns', '192.168.1.1, 8.8.8.8');
  page.once('dialog', (d) => d.accept());
  await page.click('#net-save');
  await page.waitForSelector('#net-msg.notice');
  assert.match(await page.textContent('#net-saved'), /192\.168\.1\.50\/24/);
  assert.match(readFileSync(join(box.data, 'matthan-network.txt'), 'utf8'), /address=192\.168\.1\.50\/24\ngateway=192\.168\.1\.1\ndns=192\.168\.1\.1, 8\.8\.8\.8\n/);
  const small = await page.evaluate(() => [...document.querySelectorAll('#sys-network button, #sys-network select, #sys-network input')]
    .filter((e) => e.getBoundingClientRect().height < 44).map((e) => e.id));
  assert.deepEqual(small, [], 'tap targets under 44 px on the network card');
  await page.locator('#sys-network').screenshot({ path: join(shots, 'system-network.png') });
  // Technicians see no video.
  const live = await page.goto(box.url + '/live');
  assert.equal(live.status(), 403);
  await page.goto(box.url + '/users');
  await page.fill('#us-name', 'canbo');
  await page.fill('#us-password', PW);
  await page.selectOption('#us-role', 'officer');
  await page.click('#us-create');
  await page.waitForSelector('#us-msg.notice');
  await page.screenshot({ path: join(shots, 'users.png'), fullPage: true });
  await logout(page);
});

test('technician: USB disks listed, the blank one confirmed as the recording disk', async () => {
  await login(page, box.url, 'kythuat', PW);
  await page.goto(box.url + '/system');
  await page.waitForSelector('#disk-table');
  const table = await page.textContent('#disk-table');
  for (const want of ['sdb', 'Extreme SSD', 'trống', 'sdc', '/media/usb stick', 'sdd', 'ngừng hoạt động', '26 lỗi đọc/ghi']) assert.ok(table.includes(want), `disk table lacks ${want}: ${table}`);
  assert.match(await page.textContent('#disk-state'), /thẻ nhớ/);
  // Only disks that may be prepared have a button: not the mounted stick.
  assert.equal(await page.locator('button[data-disk^="sdc:"]').count(), 0);
  assert.equal(await page.locator('button[data-disk^="sdd:"]').count(), 0, 'an offline disk offered');
  const btn = page.locator('button[data-disk="sdb:0000000001:65536"]');
  const box2 = await btn.boundingBox();
  assert.ok(box2.height >= 44, `tap target ${box2.height}px high`);
  await page.screenshot({ path: join(shots, 'system-disks.png'), fullPage: true });
  let dialog = '';
  page.once('dialog', (d) => { dialog = d.message(); d.accept(); });
  await btn.click();
  await page.waitForSelector('#disk-msg.notice >> text=Đã chuẩn bị ổ');
  assert.match(dialog, /XOÁ TOÀN BỘ/);
  await page.waitForFunction(() => /ổ USB sdb/.test(document.querySelector('#disk-state')?.textContent || ''));
  await page.screenshot({ path: join(shots, 'system-disk-recording.png'), fullPage: true });
  const audit = await page.evaluate(async () => (await (await fetch('/api/audit?action=change')).json()).records.map((r) => r.detail).join('\n'));
  assert.match(audit, /recording disk confirmed: sdb SanDisk Extreme SSD/);
  await logout(page);
});

test('officer: live video plays (currentTime advances)', async () => {
  await login(page, box.url, 'canbo', PW);
  assert.match(page.url(), /\/live$/);
  await page.waitForSelector('video[data-camera=cam1]');
  const t = await page.waitForFunction(() => {
    const v = document.querySelector('video[data-camera=cam1]');
    return v && v.currentTime > 0 && window.mtLive.cam1.firstFrameMs !== null ? v.currentTime : false;
  }, null, { timeout: 20000 });
  const t0 = await t.jsonValue();
  await page.waitForTimeout(2000);
  const t1 = await page.evaluate(() => document.querySelector('video[data-camera=cam1]').currentTime);
  assert.ok(t1 - t0 > 1.0, `live video did not advance: ${t0} -> ${t1}`);
  const lat = await page.evaluate(() => window.mtLive.cam1.latencyMs());
  console.log(`live: first frame ${await page.evaluate(() => Math.round(window.mtLive.cam1.firstFrameMs))} ms, latency ${Math.round(lat)} ms`);
  await page.screenshot({ path: join(shots, 'live.png') });
  // English switch, and back to Vietnamese.
  await Promise.all([page.waitForNavigation(), page.click('a.lang')]);
  assert.match(await page.textContent('nav'), /Live.*Playback.*Export/);
  await page.screenshot({ path: join(shots, 'live-en.png') });
  await Promise.all([page.waitForNavigation(), page.click('a.lang')]);
  assert.match(await page.textContent('nav'), /Xem trực tiếp.*Xem lại/);
});

test('officer sets up households and a household account', async () => {
  await page.goto(box.url + '/households');
  await page.fill('#hh-id', 'ho-an');
  await page.fill('#hh-name', 'Nhà ông An');
  await page.click('#hh-save');
  await page.waitForSelector('#hh-msg.notice');
  let r = await apiCall(page, '/api/households', { id: 'ho-binh', name: 'Nhà bà Bình', address: '' });
  assert.equal(r.status, 200);
  for (const [cam, hh] of [['cam1', 'ho-an'], ['cam2', 'ho-binh']]) {
    const cams = await page.evaluate(async () => (await (await fetch('/api/cameras')).json()).cameras);
    const s = cams.find((c) => c.id === cam).settings;
    r = await apiCall(page, '/api/cameras', { ...s, household: hh });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  await page.goto(box.url + '/users');
  await page.fill('#us-name', 'nha-an');
  await page.fill('#us-password', PW);
  await page.selectOption('#us-household', 'ho-an');
  await page.click('#us-create');
  await page.waitForSelector('#us-msg.notice');
  await page.goto(box.url + '/cameras');
  await page.waitForSelector('#cam-table tr:nth-child(2)');
  await page.screenshot({ path: join(shots, 'cameras.png'), fullPage: true });
});

test('playback: timeline shows recordings, seek lands where asked', async () => {
  await page.goto(box.url + '/playback?camera=cam1');
  const segs = await (await page.waitForFunction(() => window.mtPlayback && window.mtPlayback.segments().length > 0 && window.mtPlayback.segments(), null, { timeout: 20000 })).jsonValue();
  const first = segs[0];
  const target = first.s + 3000;
  // Click the timeline at the target's x position.
  const box2 = await page.locator('#pb-timeline').boundingBox();
  // The page's day starts at midnight in the box's zone (parseLocal), whatever the browser's.
  const dayStart = await page.evaluate(() => parseLocal(document.querySelector('#pb-day').value));
  const x = box2.x + (target - dayStart) / 86400000 * box2.width;
  await page.mouse.click(x, box2.y + box2.height / 2);
  await page.waitForFunction(() => document.querySelector('#pb-video').readyState >= 2 && window.mtPlayback.now() !== null, null, { timeout: 15000 });
  const pxMs = 86400000 / box2.width; // one pixel of the day timeline
  const got = await page.evaluate(() => window.mtPlayback.now());
  assert.ok(Math.abs(got - target) < pxMs + 2500, `seek by click landed at ${got - target} ms from target`);
  // Precise seek through the same code path, 2 s into the first segment.
  await page.evaluate((t) => window.mtPlayback.seek(t), first.s + 2000);
  await page.waitForFunction((t) => Math.abs(window.mtPlayback.now() - t) < 600, first.s + 2000, { timeout: 10000 });
  // Previous event: from 5 s after a motion event, lands 2 s before it
  // (or at the start of the recording, if that is later).
  const segs2 = await page.evaluate(() => window.mtPlayback.segments());
  const evs = await page.evaluate(() => window.mtPlayback.events());
  const inRec = (t) => segs2.some((g) => t >= g.s && t < g.e - 500);
  const ev = evs.find((e) => inRec(e.s + 5000));
  if (ev) {
    const t = ev.s - 2000;
    const g = segs2.find((x) => t >= x.s && t < x.e) || segs2.find((x) => x.s >= t);
    const land = Math.max(t, g.s);
    await page.evaluate((x) => window.mtPlayback.seek(x), ev.s + 5000);
    await page.waitForFunction((x) => Math.abs(window.mtPlayback.now() - x) < 800, ev.s + 5000, { timeout: 10000 });
    await page.click('#pb-prev');
    await page.waitForFunction((x) => Math.abs(window.mtPlayback.now() - x) < 1000, land, { timeout: 10000 }).catch(async (e) => {
      console.error('playback: previous event did not land:', JSON.stringify({ land, ev: ev.s, segs2, now: await page.evaluate(() => window.mtPlayback.now()), msg: await page.textContent('#pb-msg'), ct: await page.evaluate(() => document.querySelector('#pb-video').currentTime) }));
      throw e;
    });
  } else {
    console.log(`playback: no motion event inside the recording (${evs.length} events)`);
  }
  await page.selectOption('#pb-speed', '4');
  assert.equal(await page.evaluate(() => document.querySelector('#pb-video').playbackRate), 4);
  await page.screenshot({ path: join(shots, 'playback.png') });
});

test('export: the downloaded MP4 matches the SHA-256 shown and the signed manifest', async () => {
  await page.goto(box.url + '/export');
  await page.waitForSelector('#ex-from');
  const now = Date.now();
  await page.evaluate((n) => {
    const f = (d) => localInput(new Date(d), true); // the box's local time, as the page reads it
    document.querySelector('#ex-from').value = f(n - 12000); document.querySelector('#ex-to').value = f(n - 2000);
  }, now);
  await page.selectOption('#ex-camera', 'cam1');
  await page.click('#ex-go');
  await page.waitForSelector('#ex-sha, #ex-error', { timeout: 30000 });
  assert.equal(await page.$('#ex-error'), null, await page.textContent('#ex-result'));
  // The page says what the file holds: no gaps, or the gaps in Vietnamese first.
  const verdict = await page.textContent('#ex-ok, #ex-gaps');
  assert.match(verdict, /khoảng trống/);
  const shown = (await page.textContent('#ex-sha')).trim();
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#ex-video')]);
  const file = await dl.path();
  const sum = createHash('sha256').update(readFileSync(file)).digest('hex');
  assert.equal(sum, shown);
  // ffprobe, the independent judge, counts the frames.
  const frames = +execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]).toString().trim();
  assert.ok(frames >= 100, `export has ${frames} frames, want ≥ 100 (of the 10 s asked, at 25 fps)`);
  await page.screenshot({ path: join(shots, 'export.png'), fullPage: true });
  // Ten minutes back reaches before the recording began: the page warns
  // about the gap, Vietnamese first, instead of only "Đã trích xuất".
  await page.evaluate((n) => {
    const f = (d) => localInput(new Date(d), true); // the box's local time, as the page reads it
    document.querySelector('#ex-from').value = f(n - 600000);
  }, now);
  await page.click('#ex-go');
  await page.waitForSelector('#ex-gaps, #ex-error', { timeout: 30000 });
  assert.match(await page.textContent('#ex-result'), /Bản trích xuất có [1-9]\d* khoảng trống/);
  await page.screenshot({ path: join(shots, 'export-gaps.png'), fullPage: true });
  // The export is in the audit log, and the chain verifies.
  await page.goto(box.url + '/audit');
  await page.waitForSelector('#au-verify.notice');
  const rows = await page.textContent('#au-table');
  assert.match(rows, /Trích xuất/);
  await page.screenshot({ path: join(shots, 'audit.png'), fullPage: true });
});

test('search: with or without diacritics, in any case, the same events (phone viewport)', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(box.url + '/search');
  const ph = await page.getAttribute('#se-q', 'placeholder');
  assert.match(ph, /^Nhập từ cần tìm, ví dụ: chuyển động/);
  assert.doesNotMatch(ph + (await page.textContent('#page-search')), /bleve|cú pháp/);
  const search = async (q) => {
    await page.fill('#se-q', q);
    await page.evaluate(() => document.querySelector('#se-result').replaceChildren());
    await page.click('#se-go');
    await page.waitForSelector('#se-total');
    const ids = await page.$$eval('.se-hit a', (as) => as.map((a) => a.getAttribute('href')));
    return { total: parseInt(await page.textContent('#se-total'), 10), ids };
  };
  // Motion on the simulated cameras: findable from its start.
  let first;
  for (let i = 0; i < 60; i++) {
    first = await search('chuyển động');
    if (first.total > 0) break;
    await page.waitForTimeout(1000);
  }
  assert.ok(first.total > 0, 'no motion event found by "chuyển động"');
  // Fix the range's end in the past, so that new events do not change the answer.
  const end = new Date(Date.now() - 500);
  const z = await page.evaluate((ms) => localInput(new Date(ms), true), end.getTime()); // the box's local time
  await page.fill('#se-to', z);
  const want = await search('chuyển động');
  assert.ok(want.total > 0);
  for (const q of ['chuyen dong', 'CHUYỂN ĐỘNG', 'Chuyen Dong', 'CHUYEN DONG']) {
    const got = await search(q);
    assert.deepEqual(got, want, `"${q}" found other events than "chuyển động"`);
  }
  assert.equal((await search('chuyen dong khongcotu')).total, 0);
  await page.screenshot({ path: join(shots, 'search-no-diacritics.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('search: events from the index, result opens playback', async () => {
  await page.goto(box.url + '/search');
  await page.fill('#se-q', 'camera:cam1');
  await page.click('#se-go');
  await page.waitForSelector('#se-total');
  const n = await page.locator('.se-hit').count();
  assert.ok(n >= 1, 'no events found for cam1');
  await page.screenshot({ path: join(shots, 'search.png'), fullPage: true });
  await Promise.all([page.waitForNavigation(), page.click('.se-hit a')]);
  assert.match(page.url(), /\/playback\?camera=cam1&t=\d+/);
  await logout(page);
});

test('household sees its own camera and cannot reach a foreign one by URL', async () => {
  await login(page, box.url, 'nha-an', PW);
  await page.waitForSelector('video[data-camera=cam1]');
  assert.equal(await page.$('video[data-camera=cam2]'), null, 'foreign camera on the wall');
  await page.waitForFunction(() => document.querySelector('video[data-camera=cam1]')?.currentTime > 0.5, null, { timeout: 20000 });
  await page.screenshot({ path: join(shots, 'household-live.png') });
  // The same wall on a phone.
  const phone = await ctx.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(box.url + '/live');
  await phone.waitForFunction(() => document.querySelector('video[data-camera=cam1]')?.currentTime > 0.3, null, { timeout: 20000 });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.equal(overflow, false, 'page wider than the phone screen');
  await phone.screenshot({ path: join(shots, 'household-phone.png') });
  await phone.close();
  const resp = await page.goto(box.url + '/playback?camera=cam2');
  assert.equal(resp.status(), 403);
  await page.screenshot({ path: join(shots, 'household-denied.png') });
  const codes = await page.evaluate(async () => {
    const now = Date.now(), q = `camera=cam2&from=${now - 3600000}&to=${now}`;
    const out = {};
    for (const p of ['/api/segments?' + q, '/api/events?' + q, '/api/recordings/cam2/x.mp4', '/api/events/search?' + q, '/export', '/audit']) out[p] = (await fetch(p)).status;
    out.ws = await new Promise((res) => { const ws = new WebSocket(`wss://${location.host}/api/live/cam2`); ws.onopen = () => res('open'); ws.onerror = () => res('refused'); });
    const cams = (await (await fetch('/api/cameras')).json()).cameras.map((c) => c.id);
    out.cameras = cams.join(',');
    return out;
  });
  for (const [p, c] of Object.entries(codes)) {
    if (p === 'ws') assert.equal(c, 'refused');
    else if (p === 'cameras') assert.equal(c, 'cam1');
    else assert.equal(c, 403, `${p} gave ${c}`);
  }
});

test('logout in another tab stops the live video and sends the page to the login page', async () => {
  const errors = [];
  const onErr = (e) => errors.push(e.message);
  page.on('pageerror', onErr);
  await page.goto(box.url + '/live');
  await page.waitForFunction(() => document.querySelector('video[data-camera=cam1]')?.currentTime > 0.3, null, { timeout: 20000 });
  const other = await ctx.newPage();
  await other.goto(box.url + '/account');
  const t0 = Date.now();
  await logout(other);
  await page.waitForURL(/\/login\?ended=1$/, { timeout: 5000 });
  const took = Date.now() - t0;
  console.log(`logout in another tab: live page on the login page after ${took} ms`);
  assert.ok(took < 3000, `the live page went to the login page ${took} ms after the logout`);
  assert.match(await page.textContent('#notice'), /Phiên đăng nhập đã hết, vui lòng đăng nhập lại\./);
  await page.waitForTimeout(6000); // the 5 s refresh must not throw on the login page
  assert.deepEqual(errors, []);
  page.off('pageerror', onErr);
  await other.close();
});
