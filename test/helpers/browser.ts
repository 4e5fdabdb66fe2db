/**
 * A real headless Chromium for the visualizer tests (playwright-core driving
 * the Chromium that @sparticuz/chromium ships inside its npm package, so
 * `npm install` is all a machine needs). One browser per test file.
 * TRIBE_CHROMIUM=/path/to/chromium uses another Chromium (Debian's, say); if
 * the packaged one cannot start on a machine, a system /usr/bin/chromium is
 * tried before giving up.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import chromium from '@sparticuz/chromium';
import type { ExecutionContext } from 'ava';
import { chromium as playwright, type Browser, type Page } from 'playwright-core';
import { repoRoot } from './host.js';

/** Where screenshots land (kept by CI as test artifacts; ignored by git). */
export const artifactsDir = join(repoRoot, 'test-artifacts');

/**
 * @sparticuz/chromium's switches are made for AWS Lambda. Two of them hurt here:
 * --single-process takes the whole browser down when one test's context closes,
 * and its SwiftShader GPU (--use-gl=angle …) stalls frame production for up to
 * a second about a second after a page loads (measured with a rAF gap probe;
 * gone with --disable-gpu). The page needs no GPU.
 */
const DROPPED = new Set([
  '--single-process',
  '--use-gl=angle',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--in-process-gpu',
  '--ignore-gpu-blocklist',
]);

/** Without the networking switches Chromium keeps dialing Google services, which this machine refuses. */
const QUIET = ['--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const SYSTEM_CHROMIUM = '/usr/bin/chromium';

let browser: Promise<Browser> | undefined;

/**
 * After lockdown an error's stack is hidden, and ava then prints an uncaught
 * exception as an empty block: say at least its name, message and code.
 */
process.on('uncaughtExceptionMonitor', (err: unknown, origin) => {
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | undefined;
  process.stderr.write(`${origin} in a browser test: ${String(e?.name)}: ${String(e?.message)}${e?.code ? ` (${String(e.code)})` : ''}\n`);
});

const launchAt = (executablePath: string, args: readonly string[]) => playwright.launch({ executablePath, headless: true, args: [...args] });

export const launchBrowser = (): Promise<Browser> => {
  browser ??= (async () => {
    const chosen = process.env['TRIBE_CHROMIUM'];
    if (chosen) return launchAt(chosen, ['--no-sandbox', '--disable-quic', ...QUIET]);
    try {
      return await launchAt(await chromium.executablePath(), [...chromium.args.filter((a) => !DROPPED.has(a)), ...QUIET]);
    } catch (err) {
      if (!existsSync(SYSTEM_CHROMIUM)) throw err;
      process.stderr.write(`packaged Chromium did not start (${(err as Error).message.split('\n')[0]}); using ${SYSTEM_CHROMIUM}\n`);
      return launchAt(SYSTEM_CHROMIUM, ['--no-sandbox', '--disable-quic', ...QUIET]);
    }
  })();
  return browser;
};

export const closeBrowser = async (): Promise<void> => {
  const b = browser;
  browser = undefined;
  await (await b)?.close();
};

export interface OpenedPage {
  readonly page: Page;
  /** Requests that tried to leave loopback (blocked): the page must work offline. */
  readonly offsite: string[];
  /** Console errors and uncaught exceptions of the page. */
  readonly errors: string[];
  screenshot(name: string): Promise<string>;
}

/** Opens `url` in a fresh context; anything not on 127.0.0.1 is blocked and recorded. */
export const openPage = async (t: ExecutionContext, url: string, viewport = { width: 1400, height: 900 }): Promise<OpenedPage> => {
  const b = await launchBrowser();
  const context = await b.newContext({ viewport });
  t.teardown(() => context.close());
  const page = await context.newPage();
  const offsite: string[] = [];
  const errors: string[] = [];
  await page.route('**/*', (route) => {
    const target = new URL(route.request().url());
    if (target.hostname === '127.0.0.1' || target.protocol === 'data:') return route.continue();
    offsite.push(target.href);
    return route.abort();
  });
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  return {
    page,
    offsite,
    errors,
    async screenshot(name) {
      mkdirSync(artifactsDir, { recursive: true });
      const path = join(artifactsDir, `${name}.png`);
      await page.screenshot({ path, fullPage: false });
      t.log(`screenshot: ${path}`);
      return path;
    },
  };
};

/**
 * Logs what `explain` gathers if the test fails (ava shows a failed test's
 * logs): a timed-out wait names only its selector, not what the page held.
 */
export const explainFailure = (t: ExecutionContext, explain: () => Promise<readonly string[]>): void => {
  t.teardown(async () => {
    if (t.passed) return;
    try {
      for (const line of await explain()) t.log(line);
    } catch (err) {
      t.log(`(could not gather the page's state: ${String(err)})`);
    }
  });
};
