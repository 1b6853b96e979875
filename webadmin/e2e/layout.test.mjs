// The page's layout in real Chromium, every page as every role: on a
// 390×844 touch phone (vi-VN) and at 360 px no tap target is under 44×44 px
// and nothing scrolls sideways; at 1366×768 the header is one line and the
// live wall fits the screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBoxWithUsers, launchBrowser, login, logout, shots, measure } from './harness.mjs';

const PW = 'mat-khau-rat-dai-1';
const users = { technician: 'kythuat', officer: 'canbo', household: 'nha-an' };
let box;

before(async () => {
  box = await startBoxWithUsers({ cameras: 4 }, PW);
});
after(async () => { await box?.stop(); });

// settle waits for the page's section to be drawn (its API answers in).
async function settle(page, path) {
  const id = 'page-' + (path.slice(1) || 'live');
  await page.waitForFunction((id) => { const s = document.getElementById(id); return !s || s.children.length > 0; }, id, { timeout: 15000 });
  if (path === '/search') { await page.click('#se-go'); await page.waitForSelector('#se-total, #se-result .error'); }
  if (path === '/audit') await page.waitForSelector('#au-table td');
  if (path === '/cameras') await page.waitForSelector('#cam-table td');
  await page.waitForTimeout(300);
}

const phones = [
  { name: 'phone390', opts: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, locale: 'vi-VN' } },
  { name: 'narrow360', opts: { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: 'vi-VN' } },
];

for (const ph of phones) {
  test(`${ph.name}: every page, every role: tap targets ≥ 44 px, no sideways scroll`, async () => {
    const ctx = await launchBrowser(ph.opts);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    const problems = [];
    const check = async (who, path) => {
      const m = await page.evaluate(measure);
      if (m.small.length) problems.push(`${who} ${path}: under 44 px: ${m.small.join('; ')}`);
      if (m.scrollWidth > m.innerWidth) problems.push(`${who} ${path}: ${m.scrollWidth} px wide on ${m.innerWidth} (${m.wide.join(', ')})`);
    };
    try {
      await page.goto(box.url + '/login');
      await check('nobody', '/login');
      for (const [role, user] of Object.entries(users)) {
        await login(page, box.url, user, PW);
        await page.waitForSelector('#menu-btn');
        const hrefs = await page.$$eval('#nav a', (as) => as.map((a) => a.getAttribute('href')));
        for (const path of hrefs) {
          await page.goto(box.url + path);
          await settle(page, path);
          await check(role, path);
          await page.screenshot({ path: join(shots, `layout-${ph.name}-${role}-${path.slice(1)}.png`), fullPage: true });
        }
        // The menu, opened with ☰.
        await page.click('#menu-btn');
        await page.waitForSelector('#nav.open');
        await check(role, 'menu');
        await logout(page);
      }
    } finally { await ctx.close(); }
    assert.deepEqual(problems, []);
  });
}

test('narrow360 in English: the officer pages hold too', async () => {
  const ctx = await launchBrowser(phones[1].opts);
  const page = await ctx.newPage();
  const problems = [];
  try {
    await page.goto(box.url + '/lang/en?back=/login');
    await login(page, box.url, users.officer, PW);
    assert.match(await page.textContent('nav'), /Live/);
    for (const path of await page.$$eval('#nav a', (as) => as.map((a) => a.getAttribute('href')))) {
      await page.goto(box.url + path);
      await settle(page, path);
      const m = await page.evaluate(measure);
      if (m.small.length) problems.push(`${path}: under 44 px: ${m.small.join('; ')}`);
      if (m.scrollWidth > m.innerWidth) problems.push(`${path}: ${m.scrollWidth} px wide on ${m.innerWidth} (${m.wide.join(', ')})`);
    }
  } finally { await ctx.close(); }
  assert.deepEqual(problems, []);
});

test('desktop 1366×768: the header is one line and the live wall fits the screen', async () => {
  const ctx = await launchBrowser({ viewport: { width: 1366, height: 768 } });
  const page = await ctx.newPage();
  try {
    await login(page, box.url, users.officer, PW);
    await page.goto(box.url + '/live');
    await page.waitForSelector('#wall .tile');
    await page.waitForTimeout(500);
    const m = await page.evaluate(() => {
      const hd = document.querySelector('header.top').getBoundingClientRect();
      const tiles = [...document.querySelectorAll('#wall .tile')].map((t) => t.getBoundingClientRect());
      const kids = [...document.querySelectorAll('header.top > *')].filter((e) => e.getBoundingClientRect().height).map((e) => Math.round(e.getBoundingClientRect().top));
      return { header: hd.height, kidsTops: kids, tiles: tiles.length, bottom: Math.max(...tiles.map((t) => t.bottom)), innerHeight, scrollWidth: document.scrollingElement.scrollWidth, innerWidth };
    });
    await page.screenshot({ path: join(shots, 'layout-desktop-live.png') });
    assert.equal(m.tiles, 4);
    assert.ok(m.header < 60 && new Set(m.kidsTops).size === 1, `header wraps: ${JSON.stringify(m)}`);
    assert.ok(m.bottom <= m.innerHeight, `the wall's bottom row ends at ${m.bottom} px on a ${m.innerHeight} px screen`);
    assert.ok(m.scrollWidth <= m.innerWidth, `page is ${m.scrollWidth} px wide`);
    // The technician's header (fewer pages) is one line too.
    await logout(page);
    await login(page, box.url, users.technician, PW);
    const h = await page.evaluate(() => document.querySelector('header.top').getBoundingClientRect().height);
    assert.ok(h < 60, `technician's header ${h} px high`);
  } finally { await ctx.close(); }
});

test('small things: busy button, favicon and logo, Vietnamese numbers and audit words, app.js cached', async () => {
  const ctx = await launchBrowser(phones[0].opts);
  const page = await ctx.newPage();
  try {
    // The login button shows busy while the box checks the password.
    await page.goto(box.url + '/login');
    await page.route('**/login', async (route) => { if (route.request().method() === 'POST') await new Promise((r) => setTimeout(r, 1500)); await route.continue(); });
    await page.fill('#username', users.officer);
    await page.fill('#password', PW);
    const nav = page.waitForNavigation();
    // (Clicked from inside the page: Playwright's click would wait for the next page.)
    assert.equal(await page.evaluate(() => new Promise((res) => { document.querySelector('#login-btn').click(); setTimeout(() => res(document.querySelector('#login-btn').getAttribute('aria-busy')), 200); })), 'true');
    await nav;
    await page.unroute('**/login');
    // The logo is an image that loaded (not a missing-glyph box) and /favicon.ico exists.
    assert.ok(await page.$eval('.brand img', (i) => i.complete && i.naturalWidth > 0), 'logo not loaded');
    assert.equal(await page.evaluate(async () => (await fetch('/favicon.ico')).status), 200);
    // A change in flight shows on its button: busy and not pressable twice.
    await page.goto(box.url + '/users');
    await page.waitForSelector('#us-create');
    await page.route('**/api/users', async (route) => { if (route.request().method() === 'POST') await new Promise((r) => setTimeout(r, 1500)); await route.continue(); });
    await page.fill('#us-name', 'nha-an-2');
    await page.fill('#us-password', PW);
    await page.click('#us-create');
    assert.deepEqual(await page.$eval('#us-create', (b) => [b.getAttribute('aria-busy'), b.disabled]), ['true', true]);
    await page.waitForSelector('#us-msg.notice');
    assert.deepEqual(await page.$eval('#us-create', (b) => [b.getAttribute('aria-busy'), b.disabled]), [null, false]);
    await page.unroute('**/api/users');
    // Numbers in Vietnamese use a decimal comma; durations read as words.
    assert.deepEqual(await page.evaluate(() => [fmtNum(0, 1), fmtNum(1234.5, 1), fmtDur(120), fmtDur(90061)]), ['0,0', '1.234,5', '2 phút', '1 ngày 1 giờ']);
    // Event texts in plain words, the technical detail behind "Chi tiết".
    const ev = await page.evaluate(() => {
      const txt = (x) => [x].flat().map((p) => (typeof p === 'string' ? p : p.tagName + ':' + p.textContent)).join('|');
      return [
        txt(eventText({ type: 'motion', text: 'chuyển động 16 khối / motion 16 macroblocks', score: 0.5 })),
        txt(eventText({ type: 'retention_delete', text: 'Đã xoá 1 đoạn ghi cũ (space) / deleted 1 old segments (space)' })),
        txt(eventText({ type: 'camera_offline', text: 'Mất kết nối camera / camera offline: describe: bad status code: 503 (Service Unavailable)' })),
        typeName('retention_delete'), txt(auditDetail('recording disk confirmed: sdb SanDisk')), actionName('change'),
      ];
    });
    assert.deepEqual(ev, ['Chuyển động (16 ô)', 'Đã xoá 1 đoạn ghi cũ do ổ đĩa đầy',
      'Camera mất kết nối (không phản hồi)|DETAILS:Chi tiếtMất kết nối camera / camera offline: describe: bad status code: 503 (Service Unavailable)',
      'Xoá bản ghi cũ', 'Xác nhận ổ ghi hình: sdb SanDisk| |DETAILS:Chi tiếtrecording disk confirmed: sdb SanDisk', 'Thay đổi cài đặt']);
    // The audit page in words: intact log with its count, actions and roles in Vietnamese, the hash behind "Chi tiết".
    await page.goto(box.url + '/audit');
    await page.waitForSelector('#au-verify.notice');
    await page.waitForSelector('#au-table td');
    assert.match(await page.$eval('#au-verify', (e) => e.firstChild.textContent), /^Nhật ký nguyên vẹn, chưa bị sửa \(\d+ bản ghi\)$/);
    assert.equal(await page.$eval('#au-verify details', (d) => d.open), false);
    const actions = await page.$$eval('#au-table tr:not(.head) td:nth-child(4)', (tds) => tds.map((t) => t.textContent));
    assert.ok(actions.includes('Đăng nhập') && !actions.some((a) => /^[a-z_]+( ×\d+)?$/.test(a)), actions.join(', '));
    assert.match(await page.textContent('#au-table'), /canbo \(cán bộ\)/);
    // The camera picker names a camera once ("Camera 1 (cam1)", never "cam1 (cam1)").
    await page.goto(box.url + '/playback');
    const opts = await page.$$eval('#pb-camera option', (os) => os.map((o) => o.textContent));
    assert.ok(opts.length && opts.every((o) => !/^(\S+) \(\1\)$/.test(o)), opts.join(', '));
    // app.js and app.css come from the browser's cache on the next page
    // (their links are versioned): not 40 KB, not even a 304, on every page.
    await page.goto(box.url + '/account');
    await page.goto(box.url + '/live');
    const loads = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => /\/static\/app\.(js|css)\?v=/.test(e.name)).map((e) => [e.name, e.transferSize]));
    assert.ok(loads.length === 2 && loads.every(([, n]) => n === 0), 'app.js, app.css transfers: ' + JSON.stringify(loads));
  } finally { await ctx.close(); }
});
