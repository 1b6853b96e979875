// Starts the camera simulator and the admin page's test server (real RTSP
// ingest, recorder, live hub, event index) on free loopback ports, and
// headless Chromium from Debian (/usr/bin/chromium) through playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, cpSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
export const outDir = process.env.MATTHAN_OUT || join(repo, 'out');
export const shots = join(outDir, 'e2e');
mkdirSync(shots, { recursive: true });

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
    s.on('error', rej);
  });
}

function waitLine(proc, re, what, ms = 30000) {
  return new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error(`${what}: no "${re}" within ${ms} ms; output:\n${buf}`)), ms);
    const on = (d) => { buf += d; const m = buf.match(re); if (m) { clearTimeout(t); res(m); } };
    proc.stdout.on('data', on); proc.stderr.on('data', on);
    proc.on('exit', (c) => { clearTimeout(t); rej(new Error(`${what} exited (${c}):\n${buf}`)); });
  });
}

// usbDiskTree copies daemon/disks' fake sysfs tree (USB disks: sdb blank,
// sdc a mounted stick, sdd an offline recording disk), without the
// recording disk sda so that nothing is adopted before the test confirms.
function usbDiskTree() {
  const dir = mkdtempSync(join(tmpdir(), 'matthan-e2e-usb-'));
  cpSync(join(repo, 'daemon', 'disks', 'testdata'), dir, { recursive: true, verbatimSymlinks: true });
  rmSync(join(dir, 'sys', 'block', 'sda'));
  return dir;
}

// startBox runs camsim with n cameras and webtestd over them (and the fake
// USB disks of usbDiskTree). control: camsim's fault endpoint on (box.control
// is its URL).
// audio: camsim's -audio (e.g. '1=aac,2=pcma'): those cameras send sound.
// pairCamera: camsim serves one more camera, with an ONVIF device service
// behind the login admin / PAIR_PASSWORD, that webtestd reports as found
// on the camera network (it is not configured: it must be paired).
export const PAIR_PASSWORD = 'Ghep-Camera-1';
// firmware: a fake init (hwtest/cmd/fakeinit) serves init's control socket
// and installs bundles with the real update flow into folders; webtestd
// trusts its test key (box.firmware: the bundles it wrote, its ESP).
export async function startBox({ cameras = 2, segment = '6s', motion = true, control = false, pairCamera = false, audio = '', firmware = false } = {}) {
  const bin = process.env.MATTHAN_BIN || join(outDir, 'bin');
  const rtsp = await freePort(), https = await freePort(), http = await freePort();
  const ctl = control ? `127.0.0.1:${await freePort()}` : '';
  const data = mkdtempSync(join(tmpdir(), 'matthan-e2e-'));
  const simArgs = ['-listen', `127.0.0.1:${rtsp}`, '-control', ctl, '-cameras', String(cameras + (pairCamera ? 1 : 0)), '-no-h265-camera', '-clips', join(outDir, 'clips'), ...(audio ? ['-audio', audio] : [])];
  if (pairCamera) simArgs.push('-onvif-auth', 'admin:' + PAIR_PASSWORD);
  const camsim = spawn(join(bin, 'camsim'), simArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = await waitLine(camsim, pairCamera ? new RegExp(`cam${cameras + 1} \\(\\S+\\) \\S+ \\S+ (http://\\S+)[\\s\\S]*camsim: ready`) : /camsim: ready/, 'camsim');
  const args = ['-data', data, '-listen', `127.0.0.1:${https}`, '-http', `127.0.0.1:${http}`, '-segment', segment, '-motion=' + motion, '-usb-disks', usbDiskTree(), '-allow-loopback-cameras'];
  if (pairCamera) args.push('-discovered', ready[1]);
  for (let i = 1; i <= cameras; i++) args.push('-camera', `cam${i}=rtsp://127.0.0.1:${rtsp}/cam${i}`);
  const procs = [camsim];
  let fw = null, initLog = '';
  if (firmware) {
    const dir = mkdtempSync(join(tmpdir(), 'matthan-e2e-init-'));
    const fake = spawn(join(bin, 'fakeinit'), ['-dir', dir, '-data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(fake);
    fake.stdout.on('data', (d) => { initLog += d; }); fake.stderr.on('data', (d) => { initLog += d; });
    const m = await waitLine(fake, /READY socket=(\S+) release=(\S+) keys=(\S+) bundles=(\S+)/, 'fakeinit');
    fw = { dir, socket: m[1], release: m[2], keys: m[3], bundles: m[4], esp: join(dir, 'esp'), log: () => initLog };
    args.push('-init-socket', fw.socket, '-release', fw.release, '-update-keys', fw.keys);
  }
  const web = spawn(join(bin, 'webtestd'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(web);
  let webLog = '';
  web.stderr.on('data', (d) => { webLog += d; });
  await waitLine(web, /READY (\S+)/, 'webtestd');
  const alive = (p) => p.exitCode === null && p.signalCode === null;
  const exited = (p) => new Promise((res) => { if (!alive(p)) res(); else p.once('exit', res); });
  // stop ends both processes, by SIGKILL if they linger: the harness leaves nothing running.
  const stop = async () => {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.race([Promise.all(procs.map(exited)), new Promise((res) => setTimeout(res, 10000))]);
    for (const p of procs) if (alive(p)) p.kill('SIGKILL');
  };
  process.on('exit', () => { for (const p of procs) if (alive(p)) p.kill('SIGKILL'); });
  return {
    url: `https://127.0.0.1:${https}`, control: ctl && `http://${ctl}`, httpURL: `http://127.0.0.1:${http}`, data, stop, firmware: fw,
    setupCode: () => readFileSync(join(data, 'web', 'setup-code.txt'), 'utf8').trim(),
    log: () => webLog,
  };
}

// launchBrowser starts Chromium; opts are Playwright context options (a
// phone: { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, locale: 'vi-VN' }),
// prefs Chromium preferences (the profile's Default/Preferences).
export async function launchBrowser(opts = {}, prefs = null) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'matthan-chromium-'));
  if (prefs) {
    mkdirSync(join(userDataDir, 'Default'), { recursive: true });
    writeFileSync(join(userDataDir, 'Default', 'Preferences'), JSON.stringify(prefs));
  }
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
    ignoreHTTPSErrors: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    ...opts,
  });
  return ctx;
}

export async function login(page, url, user, password) {
  await page.goto(url + '/login');
  await page.fill('#username', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('#login-btn')]);
}

// logout presses "Đăng xuất" and waits for the login page. A page showing
// live video also notices its session ended and goes to the login page by
// itself, which may abort the logout's own navigation: either way counts.
export async function logout(page) {
  await page.click('#logout');
  await page.waitForURL(/\/login(\?|$)/, { timeout: 15000 });
}

// apiCall runs a change through the page's own fetch helper (CSRF header included).
export function apiCall(page, path, body) {
  return page.evaluate(async ([p, b]) => {
    const csrf = document.querySelector('meta[name=csrf]').content;
    const r = await fetch(p, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify(b) });
    return { status: r.status, body: await r.json() };
  }, [path, body]);
}

// addHousehold makes, through the API as the officer logged in on page,
// household id, gives it camera, and creates its account user.
export async function addHousehold(page, { id, name, address = '', camera, user, password }) {
  let r = await apiCall(page, '/api/households', { id, name, address });
  if (r.status !== 200) throw new Error('create household: ' + JSON.stringify(r.body));
  const cams = await page.evaluate(async () => (await (await fetch('/api/cameras')).json()).cameras);
  r = await apiCall(page, '/api/cameras', { ...cams.find((c) => c.id === camera).settings, household: id });
  if (r.status !== 200) throw new Error('give camera: ' + JSON.stringify(r.body));
  r = await apiCall(page, '/api/users', { name: user, password, role: 'household', household: id });
  if (r.status !== 200) throw new Error('create household account: ' + JSON.stringify(r.body));
}

// firstBoot creates the technician with the setup code and an officer, and
// leaves page logged in as the officer.
export async function firstBoot(page, box, password) {
  await page.goto(box.url + '/setup');
  await page.fill('#code', box.setupCode());
  await page.fill('#username', 'kythuat');
  await page.fill('#password', password);
  await page.fill('#password2', password);
  await Promise.all([page.waitForNavigation(), page.click('#setup-btn')]);
  await login(page, box.url, 'kythuat', password);
  const r = await apiCall(page, '/api/users', { name: 'canbo', password, role: 'officer', household: '' });
  if (r.status !== 200) throw new Error('create officer: ' + JSON.stringify(r.body));
  await logout(page);
  await login(page, box.url, 'canbo', password);
}

// startBoxWithUsers is startBox(opts) with the three roles' accounts:
// the technician kythuat and officer canbo (firstBoot), and household
// ho-an's account nha-an owning cam1, all with password.
export async function startBoxWithUsers(opts, password) {
  const box = await startBox(opts);
  const ctx = await launchBrowser();
  try {
    const page = await ctx.newPage();
    await firstBoot(page, box, password);
    await addHousehold(page, { id: 'ho-an', name: 'Nhà ông An', address: 'Xóm 1', camera: 'cam1', user: 'nha-an', password });
  } finally {
    await ctx.close();
  }
  return box;
}

// measure (run in the page: page.evaluate(measure)) lists the visible
// clickable elements under 44×44 px (a checkbox counts by the label it sits in, which is what a finger hits) and the
// page's sideways overflow.
export function measure() {
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
