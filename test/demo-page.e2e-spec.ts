import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { FRONTEND_DIST } from '../src/app.factory';
import { startApp, type RunningApp } from './support/app';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * The demo page in real headless Chromium (Debian's, driven by playwright-core) against a listening gateway:
 * it loads the voice list, creates a session, streams it and shows the outcome.
 */
describe('Demo page in Chromium', () => {
  let gw: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: run bash scripts/install-system-deps.sh --with-browser`);
    if (!existsSync(`${FRONTEND_DIST}/index.html`))
      throw new Error('frontend/dist is missing: run npm run build');
    gw = await startApp();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
  }, 60000);

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
  });

  it.each(['pcm16', 'wav'])('should stream a %s session to the end and show its stats', async (format) => {
    const page = await browser.newPage();
    try {
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(gw.baseUrl);
      await page.locator('#voice option[value="en-US-mock-1"]').waitFor({ state: 'attached' });
      await page.selectOption('#format', format);
      await page.fill('#text', 'Hello from a real browser.');
      await page.click('#speak');
      await page.locator('#status', { hasText: 'eos' }).waitFor({ timeout: 15000 });
      expect(Number(await page.textContent('#chunks'))).toBeGreaterThan(5);
      expect(Number(await page.textContent('#bytes'))).toBeGreaterThan(10000);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('should show the gateway error message for a bad request', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(gw.baseUrl);
      await page.locator('#voice option[value="en-US-mock-1"]').waitFor({ state: 'attached' });
      await page.fill('#rate', '96000');
      await page.click('#speak');
      await page
        .locator('#message', { hasText: 'sample_rate_hz must be an integer from 8000 to 48000' })
        .waitFor({
          timeout: 10000,
        });
      expect(await page.textContent('#status')).toBe('error');
    } finally {
      await page.close();
    }
  });
});
