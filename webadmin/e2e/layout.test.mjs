// The page's layout in real Chromium, every page as every role: on a
// 390×844 touch phone (vi-VN) and at 360 px no tap target is under 44×44 px
// and nothing scrolls sideways; at 1366×768 the header is one line and the
// live wall fits the screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBox, launchBrowser, login, logout, apiCall, firstBoot, shots } from './harness.mjs';

const PW = 'mat-khau-rat-dai-1';
const users = { technician: 'kythuat', officer: 'canbo', household: 'nha-an' };
let box;

before(async () => {
  box = await startBox({ cameras: 4 });
  const ctx = await launchBrowser();
  const page = await ctx.newPage();
  await firstBoot(page, box, PW);
  let r = await apiCall(page, '/api/households', { id: 'ho-an', name: 'Nhà ông An', address: 'Xóm 1' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const cams = await page.evaluate(async () => (await (await fetch('/api/cameras')).json()).cameras);
  r = await apiCall(page, '/api/cameras', { ...cams.find((c) => c.id === 'cam1').settings, household: 'ho-an' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  r = await apiCall(page, '/api/users', { name: 'nha-an', password: PW, role: 'household', household: 'ho-an' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await ctx.close();
});
after(async () => { await box?.stop(); });

// measure lists the visible clickable elements under 44×44 px (a checkbox
// counts by the label it sits in, which is what a finger hits) and the
// page's sideways overflow.
function measure() {
  const small = [];
  for (const el of document.querySelectorAll('a, button, input, select, textarea, label[for], [onclick], summary')) {
    if (el.type === 'hidden') continue;
    let r = el.getBoundingClientRect();
    if (!r.width && !r.height) continue;
    if (getComputedStyle(el).visibility === 'hidden') continue;
    const lab = el.closest('label');
    if (lab && (el.type === 'checkbox' || el.type === 'radio')) r = lab.getBoundingClientRect();
    if (r.width < 43.5 || r.height < 43.5) {
      const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '');
      small.push(`${name} "${(el.textContent || el.value || '').trim().slice(0, 20)}" ${Math.round(r.width)}×${Math.round(r.height)}`);
    }
  }
  const wide = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > innerWidth + 1).slice(0, 5)
    .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' ' + Math.round(e.getBoundingClientRect().right));
  return { small, scrollWidth: document.scrollingElement.scrollWidth, innerWidth, wide };
}

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
