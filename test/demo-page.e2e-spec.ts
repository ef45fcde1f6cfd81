/// <reference lib="dom" />
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { FRONTEND_DIST } from '../src/app.factory';
import { getJson, startApp, type RunningApp } from './support/app';
import { decodeAudio } from './support/audio-check';
import { installDemoProbe } from './support/demo-audio-probe';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = join(__dirname, '..', 'frontend', 'test-results');
/** About 3.5 s of mock-tone speech (70 ms a letter, 50 ms a space, 150 ms a punctuation mark). */
const SHORT_TEXT = 'Hello from a real browser, one two three four five.';
/** 10.16 s of mock-tone speech. */
const LONG_TEXT =
  'This sentence is long enough to play for ten seconds at real time, so that Stop can be pressed at any moment while it is still playing, early or late.';

type Demo = { utterance?: any; stress?: any; support?: any; gateway?: any[] };
type Probe = {
  audible: number[];
  sockets: {
    openAt?: number;
    firstMessageAt?: number;
    lastMessageAt?: number;
    closeAt?: number;
    closeCode?: number;
  }[];
};

/**
 * The demo page in Debian's headless Chromium (driven by playwright-core) against a listening gateway whose
 * tone generator is paced at real time, so a stream takes as long as its audio. The page's audio is watched
 * from outside (test/support/demo-audio-probe.ts): every node connected to a destination is tapped by our
 * own analyser, and every WebSocket's open/message/close times are recorded.
 */
describe('Demo page in Chromium', () => {
  let gw: RunningApp;
  let browser: Browser;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: run bash scripts/install-system-deps.sh --with-browser`);
    if (!existsSync(`${FRONTEND_DIST}/index.html`))
      throw new Error('frontend/dist is missing: run npm run build');
    mkdirSync(SCREENSHOTS, { recursive: true });
    gw = await startApp({ PROVIDERS: 'mock_tone,espeak', MOCK_TONE_REALTIME_FACTOR: '1' });
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

  async function open(baseUrl: string, query = '', width = 1280): Promise<Page> {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await page.addInitScript(installDemoProbe);
    await page.goto(`${baseUrl}/${query}`);
    await page.locator('#provider option[value="mock_tone"]').waitFor({ state: 'attached' });
    // The tone generator, paced at real time, makes streams last as long as their audio.
    await page.selectOption('#provider', 'mock_tone');
    await page.locator('#voice option[value="en-US-mock-1"]').waitFor({ state: 'attached' });
    await page.waitForFunction(() => (window as any).__ttsDemo?.support);
    return page;
  }

  const demo = (page: Page) => page.evaluate(() => (window as any).__ttsDemo as Demo);
  const probe = (page: Page) => page.evaluate(() => (window as any).__probe as Probe);
  const resetProbe = (page: Page) => page.evaluate(() => (window as any).__probe.reset());
  const untilStream = (page: Page, ...states: string[]) =>
    page.waitForFunction((s) => s.includes((window as any).__ttsDemo?.utterance?.streamState), states, {
      timeout: 20000,
    });

  /**
   * Clicks Stop and returns when the page received the click (its performance.now(), the probe's clock): on a
   * busy machine Playwright's checks before the click can take longer than the margin the tests give Stop.
   */
  const clickStop = async (page: Page): Promise<number> => {
    await page.evaluate(() =>
      document.addEventListener('click', () => ((window as any).__stopClickedAt = performance.now()), {
        capture: true,
        once: true,
      }),
    );
    await page.click('#stop');
    return page.evaluate(() => (window as any).__stopClickedAt as number);
  };

  /**
   * How long the probe kept hearing sound within [from, to): from its first audible tick to its last (a span,
   * so a busy machine that fires the 20 ms timer less often does not shorten it). 0 when nothing was heard.
   */
  const audibleSpan = (p: Probe, from: number, to: number) => {
    const heard = p.audible.filter((t) => t >= from && t < to);
    return heard.length ? heard[heard.length - 1] - heard[0] + 20 : 0;
  };

  /**
   * Horizontal overflow at a 390 px viewport: the page's scroll width, and every element whose box reaches
   * past the viewport's right edge (outside a scrolling box of its own), so a failure names the culprit.
   */
  const overflowAt390 = (page: Page) =>
    page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const clipped = (el: Element) => {
        for (let a = el.parentElement; a && a !== document.body; a = a.parentElement)
          if (getComputedStyle(a).overflowX !== 'visible') return true;
        return false;
      };
      const outside = Array.from(document.body.querySelectorAll('*'))
        .filter((el) => el.getBoundingClientRect().right > width + 0.5 && !clipped(el))
        .map(
          (el) =>
            `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${Array.from(el.classList).join('.')}`,
        )
        .slice(0, 10);
      return { overflowPx: document.documentElement.scrollWidth - width, outside };
    });

  it('should play each of the six formats live, well before the stream ends', async () => {
    const page = await open(gw.baseUrl);
    try {
      // Player kind, and what ffprobe must find in the downloaded file.
      const expected: Record<string, { player: string; codec: string }> = {
        pcm16: { player: 'worklet', codec: 'pcm_s16le' },
        mulaw: { player: 'worklet', codec: 'pcm_mulaw' },
        alaw: { player: 'worklet', codec: 'pcm_alaw' },
        wav: { player: 'worklet', codec: 'pcm_s16le' },
        mp3: { player: 'webcodecs', codec: 'mp3' },
        opus: { player: 'webcodecs', codec: 'opus' },
      };
      for (const [format, { player, codec }] of Object.entries(expected)) {
        await page.selectOption('#format', format);
        await page.fill('#text', SHORT_TEXT);
        await resetProbe(page);
        await page.click('#speak');
        if (format === 'mp3') {
          await page.waitForFunction(() => (window as any).__ttsDemo?.utterance?.nonSilentSamples > 24000);
          await page.screenshot({ path: join(SCREENSHOTS, 'desktop-playing-mp3.png'), fullPage: true });
        }
        await untilStream(page, 'ended', 'failed', 'lost');
        const { utterance: u } = await demo(page);
        const p = await probe(page);
        const ws = p.sockets[0];
        expect({ format, state: u.streamState, player: u.player, error: u.errorCode }).toEqual({
          format,
          state: 'ended',
          player,
          error: null,
        });
        // The page's own worklet/decoder counters: > 1 s of sound rendered while the socket still received (MP3
        // leaves the gateway about 0.7 s late, so its stream carries less audio after the first frame).
        expect(u.atStreamEnd.nonSilentSamples / u.playbackRate).toBeGreaterThan(1);
        // Our tap on the destination heard > 1.5 s of sound before the socket's last message …
        expect(audibleSpan(p, 0, ws.lastMessageAt!)).toBeGreaterThan(1500);
        // … starting within a second of the first audio frame.
        expect(p.audible[0] - ws.firstMessageAt!).toBeLessThan(1000);
        expect(u.seqGaps).toBe(0);
        expect(ws.closeCode).toBe(1000);

        // The download is a whole file that a player opens: raw formats wrapped as WAV.
        const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
        const name = download.suggestedFilename();
        const file = await decodeAudio(
          readFileSync(await download.path()),
          name.split('.').pop()!,
          u.sampleRate,
        );
        expect({ format, codec: file.codec, errors: file.errors }).toEqual({ format, codec, errors: '' });
        expect(file.sampleRate).toBe(format === 'opus' ? 48000 : u.sampleRate);
        expect(file.duration).toBeGreaterThan(3.2);
        expect(file.duration).toBeLessThan(3.9);
        expect(name).toMatch(format === 'mp3' ? /\.mp3$/ : format === 'opus' ? /\.opus$/ : /\.wav$/);
      }
    } finally {
      await page.close();
    }
  }, 45000);

  it('should start a 10-second utterance within a second, stop it at once on Stop, and replace it on Speak', async () => {
    const page = await open(gw.baseUrl);
    try {
      await page.selectOption('#format', 'mulaw');
      expect(await page.inputValue('#rate')).toBe('8000');
      await page.fill('#text', LONG_TEXT);
      await page.click('#speak');
      await page.waitForFunction(() => {
        const heard: number[] = (window as any).__probe.audible;
        return heard.length > 0 && heard[heard.length - 1] - heard[0] > 1500;
      });
      let p = await probe(page);
      expect(p.audible[0] - p.sockets[0].firstMessageAt!).toBeLessThan(1000);
      const sessionId: string = (await demo(page)).utterance.sessionId;

      const stopAt = await clickStop(page);
      await untilStream(page, 'cancelled');
      await page.waitForFunction(() => (window as any).__probe.sockets[0].closeAt !== undefined, null, {
        timeout: 3000,
      });
      await page.waitForTimeout(400);
      p = await probe(page);
      const { utterance: u } = await demo(page);
      expect(u.playbackState).toBe('stopped');
      expect(audibleSpan(p, stopAt + 150, Infinity)).toBe(0); // silent at once
      expect(await page.evaluate(() => (window as any).__probe.liveContexts())).toBe(0); // device released
      expect(p.sockets[0].closeCode).toBe(4499); // the gateway's answer to cancel
      expect(p.sockets[0].closeAt! - stopAt).toBeLessThan(1000);
      expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${sessionId}`)).json.status).toBe('cancelled');
      expect(await page.isDisabled('#stop')).toBe(true);
      expect(await page.isDisabled('#download')).toBe(true);

      // A new Speak while one plays: the first is cancelled, only the second is heard.
      await page.click('#speak');
      await page.waitForFunction(() => (window as any).__ttsDemo.utterance.nonSilentSamples > 4000);
      const first: string = (await demo(page)).utterance.sessionId;
      await page.fill('#text', SHORT_TEXT);
      await page.click('#speak');
      await page.waitForFunction((id) => {
        const s = (window as any).__ttsDemo.utterance;
        return s.sessionId && s.sessionId !== id && s.nonSilentSamples > 4000;
      }, first);
      expect(await page.evaluate(() => (window as any).__probe.liveContexts())).toBe(1);
      await page.waitForTimeout(300);
      expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${first}`)).json.status).toBe('cancelled');
      await page.keyboard.press('Escape'); // the keyboard way to Stop
      await untilStream(page, 'cancelled');
    } finally {
      await page.close();
    }
  }, 30000);

  it('should keep Stop working after the stream has ended while its audio still plays, and silence it at once', async () => {
    // The tone generator 5x faster than real time: a 10 s utterance has arrived after about 2 s and then plays
    // from the jitter buffer for 8 s more. That is the moment the first demo disabled Stop.
    const fast = await startApp({ PROVIDERS: 'mock_tone', MOCK_TONE_REALTIME_FACTOR: '0.2' });
    const page = await open(fast.baseUrl);
    try {
      for (const format of ['pcm16', 'mp3']) {
        await page.selectOption('#format', format);
        await page.fill('#text', LONG_TEXT);
        await resetProbe(page);
        await page.click('#speak');
        await untilStream(page, 'ended', 'failed', 'lost');
        await page.waitForFunction(() => (window as any).__probe.sockets[0]?.closeAt !== undefined, null, {
          timeout: 3000,
        });
        const closeAt = (await probe(page)).sockets[0].closeAt!;
        // The socket is gone and the page still plays: heard for half a second after the close.
        await page.waitForFunction(
          (t) => (window as any).__probe.audible.some((at: number) => at > t + 500),
          closeAt,
          { timeout: 5000 },
        );
        let { utterance: u } = await demo(page);
        expect({
          format,
          stream: u.streamState,
          playback: u.playbackState,
          closeCode: (await probe(page)).sockets[0].closeCode,
        }).toEqual({ format, stream: 'ended', playback: 'playing', closeCode: 1000 });
        expect(u.bufferedMs).toBeGreaterThan(3000); // seconds of audio still to play
        expect(await page.isEnabled('#stop')).toBe(true);
        expect(await page.isEnabled('#download')).toBe(true);

        const stopAt = await clickStop(page);
        await page.waitForTimeout(400);
        const p = await probe(page);
        u = (await demo(page)).utterance;
        expect({ format, heardAfterStop: audibleSpan(p, stopAt + 150, Infinity) }).toEqual({
          format,
          heardAfterStop: 0,
        });
        expect(audibleSpan(p, closeAt, stopAt)).toBeGreaterThan(500);
        expect(u.playbackState).toBe('stopped');
        expect(u.streamState).toBe('ended'); // nothing left to cancel
        expect(await page.evaluate(() => (window as any).__probe.liveContexts())).toBe(0);
        expect(await page.isDisabled('#stop')).toBe(true);
        // The whole utterance had arrived before Stop: it can still be saved, all of it.
        expect(await page.isEnabled('#download')).toBe(true);
        const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
        const file = await decodeAudio(
          readFileSync(await download.path()),
          download.suggestedFilename().split('.').pop()!,
          u.sampleRate,
        );
        expect({ format, errors: file.errors }).toEqual({ format, errors: '' });
        expect(file.duration).toBeGreaterThan(10);
      }

      // The phone layout with a played utterance's stats and events shown.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.waitForTimeout(200);
      expect(await overflowAt390(page)).toEqual({ overflowPx: 0, outside: [] });
      await page.screenshot({ path: join(SCREENSHOTS, 'phone-390-stopped.png'), fullPage: true });
    } finally {
      await page.close();
      await fast.close();
    }
  }, 45000);

  it('should run 20 sessions in stress mode, play one of them, and chart the gateway', async () => {
    const page = await open(gw.baseUrl);
    try {
      await page.fill('#text', 'Stress test, one.');
      await page.getByLabel('Sessions').fill('20');
      await page.getByLabel('Concurrency').fill('10');
      await page.getByLabel('Play one session aloud').check();
      await resetProbe(page);
      await page.click('#stress-run');
      await page.waitForFunction(() => (window as any).__ttsDemo?.stress?.running >= 5);
      await page.waitForTimeout(1100); // one more scrape of /metrics while the run is on
      await page.screenshot({ path: join(SCREENSHOTS, 'desktop-stress-running.png'), fullPage: true });
      await page.waitForFunction(() => (window as any).__ttsDemo?.stress?.state === 'done', null, {
        timeout: 20000,
      });
      const { stress } = await demo(page);
      expect(stress).toMatchObject({ total: 20, succeeded: 20, failed: 0, running: 0 });
      expect(stress.ttfa.p50).toBeGreaterThan(0);
      expect(await page.textContent('#stress-succeeded')).toBe('20');
      expect(audibleSpan(await probe(page), 0, Infinity)).toBeGreaterThan(300); // the played one
      // Once the played session has played out, its AudioContext (and worklet) is closed: none is left.
      await page
        .waitForFunction(() => (window as any).__probe.liveContexts() === 0, null, { timeout: 5000 })
        .catch(() => undefined);
      expect(await page.evaluate(() => (window as any).__probe.liveContexts())).toBe(0);
      // The gateway's own counters, scraped from /metrics, showed the run (and the page charts them).
      await page.waitForTimeout(1100);
      const points: any[] = (await demo(page)).gateway ?? [];
      expect(Math.max(...points.map((p) => p.sessionsPerSec ?? 0))).toBeGreaterThan(1);
      expect(Math.max(...points.map((p) => p.activeStreams ?? 0))).toBeGreaterThanOrEqual(5);
      expect(points.some((p) => p.ttfaP50Ms !== null)).toBe(true);
      await page.screenshot({ path: join(SCREENSHOTS, 'desktop-stress.png'), fullPage: true });

      await page.setViewportSize({ width: 390, height: 844 });
      await page.waitForTimeout(200);
      expect(await overflowAt390(page)).toEqual({ overflowPx: 0, outside: [] });
      await page.screenshot({ path: join(SCREENSHOTS, 'phone-390.png'), fullPage: true });
    } finally {
      await page.close();
    }
  }, 30000);

  it('should play MP3 through MediaSource and Opus after the stream when WebCodecs is not used', async () => {
    for (const [player, format] of [
      ['mse', 'mp3'],
      ['file', 'opus'],
    ]) {
      const page = await open(gw.baseUrl, `?player=${player}`);
      try {
        await page.selectOption('#format', format);
        await page.fill('#text', 'Fallback player.');
        await page.click('#speak');
        await untilStream(page, 'ended', 'failed', 'lost');
        await page.waitForFunction(
          () => (window as any).__ttsDemo.utterance.playbackState === 'drained',
          null,
          {
            timeout: 8000,
          },
        );
        const { utterance: u } = await demo(page);
        const p = await probe(page);
        expect({ player: u.player, error: u.errorCode }).toEqual({ player, error: null });
        if (player === 'mse') expect(audibleSpan(p, 0, p.sockets[0].lastMessageAt!)).toBeGreaterThan(300);
        else expect(audibleSpan(p, p.sockets[0].closeAt!, Infinity)).toBeGreaterThan(500);
      } finally {
        await page.close();
      }
    }
  }, 30000);

  it('should report rate limiting in plain words, in stress mode and on Speak', async () => {
    const limited = await startApp({ PROVIDERS: 'mock_tone', RATE_LIMIT_SESSIONS_PER_MINUTE: '3' });
    const page = await open(limited.baseUrl);
    try {
      await page.fill('#text', 'Rate limit.');
      await page.getByLabel('Sessions').fill('6');
      await page.getByLabel('Concurrency').fill('2');
      await page.click('#stress-run');
      await page.waitForFunction(() => (window as any).__ttsDemo?.stress?.state === 'done', null, {
        timeout: 15000,
      });
      expect((await demo(page)).stress).toMatchObject({ succeeded: 3, failed: 3 });
      expect(await page.textContent('#stress-causes')).toContain('429 rate limited');
      await page.click('#speak');
      await untilStream(page, 'failed');
      expect(await page.textContent('#message')).toMatch(/^Rate limited: .*Try again in \d+ s\./);
    } finally {
      await page.close();
      await limited.close();
      // 429 answers are logged by the browser as failed loads; they are this test's point, not page errors.
      for (let i = consoleErrors.length - 1; i >= 0; i--)
        if (/status of 429/.test(consoleErrors[i])) consoleErrors.splice(i, 1);
    }
  }, 30000);

  it('should name a provider that is down and why, and not offer it', async () => {
    const broken = await startApp({
      PROVIDERS: 'mock_tone,espeak',
      ESPEAK_BINARY: '/nonexistent/espeak-ng',
    });
    const page = await open(broken.baseUrl);
    try {
      const option = page.locator('#provider option[value="espeak"]');
      await option.waitFor({ state: 'attached' });
      expect(await option.isDisabled()).toBe(true);
      expect(await option.textContent()).toMatch(/ — unavailable$/);
      // The reason the gateway gives (GET /v1/providers), under the select and linked to it.
      const reason = (await getJson(broken.baseUrl, '/v1/providers')).json.providers.find(
        (p: any) => p.id === 'espeak',
      ).reason;
      expect(reason).toMatch(/espeak-ng binary not found/);
      expect(await page.textContent('#provider-hint')).toContain(`is unavailable: ${reason}.`);
      expect(await page.getAttribute('#provider', 'aria-describedby')).toBe('provider-hint');
      // The working provider stays chosen and speaks.
      expect(await page.inputValue('#provider')).toBe('mock_tone');
    } finally {
      await page.close();
      await broken.close();
    }
  }, 30000);

  it('should stop polling /metrics and say why when the gateway wants a key the page does not have', async () => {
    // API_KEYS keys are not admin keys, and METRICS_REQUIRE_KEY wants one: /metrics answers 401 with or without.
    const keyed = await startApp({
      PROVIDERS: 'mock_tone',
      API_KEYS: 'sk-demo-e2e',
      METRICS_REQUIRE_KEY: 'true',
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const metricsRequests: number[] = [];
    const errors: string[] = [];
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/metrics') metricsRequests.push(Date.now());
    });
    try {
      await page.addInitScript(installDemoProbe);
      await page.goto(`${keyed.baseUrl}/`);
      await page.locator('#gw-notice').waitFor({ timeout: 5000 });
      await page.click('summary:text("Options")');
      await page.fill('#api-key', 'sk-demo-e2e');
      // With the key the API works: voices load and a Speak streams.
      await page.locator('#voice option[value="en-US-mock-1"]').waitFor({ state: 'attached' });
      await page.fill('#text', 'Keys.');
      await page.click('#speak');
      await untilStream(page, 'ended', 'failed', 'lost');
      expect((await demo(page)).utterance.streamState).toBe('ended');
      const keyEnteredAt = Date.now();
      await page.waitForTimeout(3000);
      // One scrape without the key and one with it, each a 401: then no more, rather than one a second.
      expect(metricsRequests.length).toBeGreaterThanOrEqual(1);
      expect(metricsRequests.length).toBeLessThanOrEqual(2);
      expect(metricsRequests.filter((t) => t > keyEnteredAt)).toEqual([]);
      expect(await page.textContent('#gw-notice')).toContain('needs an admin API key');
      expect(await page.locator('#gw-error').count()).toBe(0);
      // The browser logs each refused request; there are only those few (the voices before the key, too).
      expect(errors.length).toBeLessThanOrEqual(3);
      expect(errors.every((e) => /status of 401/.test(e))).toBe(true);
    } finally {
      await page.close();
      await keyed.close();
    }
  }, 30000);

  it('should serve a favicon, link the docs and metrics, and log no console errors', async () => {
    const icon = await fetch(`${gw.baseUrl}/favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toMatch(/icon/);
    const page = await open(gw.baseUrl);
    try {
      expect(await page.getAttribute('a:text("API docs")', 'href')).toBe('/docs');
      expect(await page.getAttribute('a:text("Metrics")', 'href')).toBe('/metrics');
      // The real voices come first and are grouped by language; the filter narrows them.
      await page.reload();
      await page.locator('#voice option[value="en-us"]').waitFor({ state: 'attached' });
      expect(await page.inputValue('#provider')).toBe('espeak');
      await page.selectOption('#language', '');
      expect(await page.locator('#voice optgroup').count()).toBeGreaterThan(50);
      await page.getByLabel('Filter by name').fill('German');
      expect(await page.locator('#voice option').count()).toBeLessThan(5);
      await page.screenshot({ path: join(SCREENSHOTS, 'desktop-espeak-voices.png') });
      await page.selectOption('#provider', 'mock_tone');
      // Keyboard only: Ctrl+Enter in the text speaks.
      await page.focus('#text');
      await page.fill('#text', 'Keys.');
      await page.keyboard.press('Control+Enter');
      await untilStream(page, 'ended');
    } finally {
      await page.close();
    }
    expect(consoleErrors).toEqual([]);
  }, 20000);
});
