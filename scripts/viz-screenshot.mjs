// Regenerates docs/images/visualizer.png: two real hosts with the examples, a session between
// them, the page of the first in headless Chromium. Run after `npm run build`:
//   node scripts/viz-screenshot.mjs [out.png]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeBrowser, launchBrowser } from '../dist/test/helpers/browser.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/runtime/cli/main.js');
const out = process.argv[2] ?? join(root, 'docs/images/visualizer.png');
const homes = [mkdtempSync(join(tmpdir(), 'tribe-shot-a-')), mkdtempSync(join(tmpdir(), 'tribe-shot-b-'))];
const tribe = (...args) => execFileSync(process.execPath, [cli, ...args]).toString().trim();
const startHost = (home, extra) =>
  new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [cli, 'host', '--home', home, '--examples', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    proc.stdout.on('data', (d) => {
      text += d;
      if (text.includes('ready pid=')) resolve(text);
    });
    proc.on('exit', (code) => reject(new Error(`host exited with ${code}:\n${text}`)));
  });

try {
  await startHost(homes[1], ['--no-viz']);
  const url = /viz +(http\S+)/.exec(await startHost(homes[0], ['--viz', '0']))[1];
  tribe('connect', tribe('ref', 'counter', '--home', homes[1]), '--as', 'bcounter', '--home', homes[0]);
  tribe('call', 'bcounter', 'increment', '--home', homes[0]);
  const browser = await launchBrowser();
  const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  await page.goto(url);
  const session = '#tree [data-group="sessions"][data-state~="established.watching"]';
  await page.waitForSelector(session);
  await page.waitForFunction(() => document.querySelectorAll('#health tr[data-state="established"]').length === 2);
  await page.click(session);
  await page.waitForSelector('#chart svg g.state.active[data-path="established"]');
  await page.waitForFunction(() => /Signature/.test(document.querySelector('#sequence')?.textContent ?? ''));
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await closeBrowser();
  for (const home of homes) {
    try {
      tribe('stop', '--home', home);
    } catch {}
    rmSync(home, { recursive: true, force: true });
  }
}
