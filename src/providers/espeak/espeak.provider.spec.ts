import { Test } from '@nestjs/testing';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { providersConfig, type ProvidersConfig } from '../../config/configuration';
import { ProviderError, UnsupportedCapabilityError, type AudioChunk, type Voice } from '../provider.contract';
import { EspeakProvider } from './espeak.provider';
import { parseEspeakVoices } from './espeak-voices';

const config = (binary: string): ProvidersConfig => ({
  enabled: undefined,
  defaultProvider: undefined,
  mockTone: { realtimeFactor: 0 },
  espeak: { binary },
  coqui: { baseUrl: undefined },
  openai: { baseUrl: undefined, apiKey: undefined, model: 'tts-1', voices: [] },
});

async function createProvider(binary = 'espeak-ng'): Promise<EspeakProvider> {
  const moduleRef = await Test.createTestingModule({
    providers: [EspeakProvider, { provide: providersConfig.KEY, useValue: config(binary) }],
  }).compile();
  return moduleRef.get(EspeakProvider);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function synthesizeAll(provider: EspeakProvider, voice: Voice, text: string, speed = 1) {
  const chunks: AudioChunk[] = [];
  const request = { text, voice, language: voice.language, speed };
  for await (const chunk of provider.synthesize(request, new AbortController().signal)) chunks.push(chunk);
  const pcm = new Int16Array(chunks.reduce((n, c) => n + c.pcm.length, 0));
  let at = 0;
  for (const c of chunks) {
    pcm.set(c.pcm, at);
    at += c.pcm.length;
  }
  return { chunks, pcm };
}

/** RMS of consecutive 20 ms windows. */
function windowRms(pcm: Int16Array, rate: number): number[] {
  const size = Math.round(rate * 0.02);
  const out: number[] = [];
  for (let at = 0; at + size <= pcm.length; at += size) {
    let sum = 0;
    for (let i = at; i < at + size; i++) sum += pcm[i] * pcm[i];
    out.push(Math.sqrt(sum / size));
  }
  return out;
}

const LONG_TEXT = Array.from(
  { length: 60 },
  (_, i) => `This is sentence number ${i}, which keeps espeak busy for a while, as long texts do.`,
).join(' ');

describe(EspeakProvider.name, () => {
  let provider: EspeakProvider;
  let voices: Voice[];
  const voice = (id: string) => {
    const found = voices.find((v) => v.id === id);
    if (!found) throw new Error(`no espeak voice ${id}`);
    return found;
  };

  beforeAll(async () => {
    provider = await createProvider();
    voices = await provider.listVoices();
  });

  it('should be up when the real espeak-ng binary is installed', async () => {
    await expect(provider.checkHealth()).resolves.toEqual({ up: true });
  });

  it('should list every installed voice with canonical languages, genders and unique ids', () => {
    expect(voices.length).toBeGreaterThan(50);
    expect(new Set(voices.map((v) => v.id)).size).toBe(voices.length);
    expect(voice('en-us')).toMatchObject({
      provider: 'espeak',
      language: 'en-US',
      gender: 'male',
      sampleRateHz: 22050,
      extra: { espeakFile: 'gmw/en-US' },
    });
    expect(voice('en-us').languages).toEqual(['en-US', 'en']);
    expect(voice('en-gb-x-rp').language).toBe('en-GB-x-rp');
    expect(voice('de').language).toBe('de');
    expect(voice('fr-fr').languages).toEqual(['fr-FR', 'fr']);
    expect(voice('es').language).toBe('es');
    expect(voice('pt-br').language).toBe('pt-BR');
    expect(voice('cmn').languages).toEqual(expect.arrayContaining(['zh']));
    // espeak 1.51 lists two "yue" voices: the second is named by its file.
    expect(voices.filter((v) => v.language === 'yue').map((v) => v.id)).toEqual(['yue', 'yue-latn-jyutping']);
    for (const v of voices) expect(() => Intl.getCanonicalLocales(v.languages as string[])).not.toThrow();
  });

  it('should parse the voice table by fields, not columns (multi-byte names shift espeak columns)', () => {
    const table = [
      'Pty Language       Age/Gender VoiceName          File                 Other Languages',
      ' 5  mi              --/M      Māori             poz/mi               ',
      ' 5  en-029          --/F      English_(Caribbean) gmw/en-029           (en 10)(en-us 4)',
    ].join('\n');
    expect(parseEspeakVoices(table)).toEqual([
      { priority: 5, language: 'mi', gender: 'male', name: 'Māori', file: 'poz/mi', otherLanguages: [] },
      {
        priority: 5,
        language: 'en-029',
        gender: 'female',
        name: 'English (Caribbean)',
        file: 'gmw/en-029',
        otherLanguages: [
          { language: 'en', priority: 10 },
          { language: 'en-us', priority: 4 },
        ],
      },
    ]);
  });

  it.each([
    ['en-us', 'The quick brown fox jumps over the lazy dog.'],
    ['de', 'Der schnelle braune Fuchs springt über den faulen Hund.'],
    ['fr-fr', 'Le vif renard brun saute par-dessus le chien paresseux.'],
    ['es', 'El veloz zorro marrón salta sobre el perro perezoso.'],
  ])('should synthesize speech in %s: decodable PCM with real, varying energy', async (id, text) => {
    const { chunks, pcm } = await synthesizeAll(provider, voice(id), text);
    expect(chunks.every((c) => c.sampleRate === 22050)).toBe(true);
    const seconds = pcm.length / 22050;
    expect(seconds).toBeGreaterThan(1.5);
    expect(seconds).toBeLessThan(8);
    const windows = windowRms(pcm, 22050);
    const overall = Math.sqrt(windows.reduce((s, w) => s + w * w, 0) / windows.length);
    expect(overall).toBeGreaterThan(800);
    // Speech alternates loud syllables and near-silent gaps; a tone or noise would not.
    const sorted = [...windows].sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length * 0.9)]).toBeGreaterThan(
      5 * (sorted[Math.floor(sorted.length * 0.1)] + 1),
    );
  });

  it('should produce audio that ffmpeg decodes as 22.05 kHz mono of the expected duration', async () => {
    const { pcm } = await synthesizeAll(provider, voice('en-us'), 'Hello from the gateway, this is espeak.');
    const dir = mkdtempSync(join(tmpdir(), 'espeak-spec-'));
    try {
      const file = join(dir, 'out.wav');
      const header = Buffer.alloc(44);
      header.write('RIFF', 0, 'ascii');
      header.writeUInt32LE(36 + pcm.length * 2, 4);
      header.write('WAVEfmt ', 8, 'ascii');
      header.writeUInt32LE(16, 16);
      header.writeUInt16LE(1, 20);
      header.writeUInt16LE(1, 22);
      header.writeUInt32LE(22050, 24);
      header.writeUInt32LE(44100, 28);
      header.writeUInt16LE(2, 32);
      header.writeUInt16LE(16, 34);
      header.write('data', 36, 'ascii');
      header.writeUInt32LE(pcm.length * 2, 40);
      writeFileSync(file, Buffer.concat([header, Buffer.from(pcm.buffer)]));
      const probe = execFileSync('ffprobe', [
        '-v',
        'error',
        '-show_entries',
        'stream=sample_rate,channels:format=duration',
        '-of',
        'json',
        file,
      ]).toString();
      const info = JSON.parse(probe) as {
        streams: { sample_rate: string; channels: number }[];
        format: { duration: string };
      };
      expect(info.streams[0]).toEqual({ sample_rate: '22050', channels: 1 });
      expect(Number(info.format.duration)).toBeCloseTo(pcm.length / 22050, 2);
      const errors = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], {
        stdio: 'pipe',
      }).toString();
      expect(errors).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should read text starting with "-" as text, never as an option', async () => {
    const { pcm } = await synthesizeAll(provider, voice('en-us'), '--version -v xx --help minus one');
    expect(pcm.length / 22050).toBeGreaterThan(1.5);
  });

  it('should speak faster with a higher speed', async () => {
    const text = 'Speaking rate changes the duration of this sentence quite a lot.';
    const normal = await synthesizeAll(provider, voice('en-us'), text, 1);
    const fast = await synthesizeAll(provider, voice('en-us'), text, 2);
    expect(fast.pcm.length).toBeLessThan(normal.pcm.length * 0.7);
  });

  it('should stream the first chunk while espeak-ng is still running, and hold it back when the consumer waits', async () => {
    const controller = new AbortController();
    const iterator = provider
      .synthesize({ text: LONG_TEXT, voice: voice('en-us'), language: 'en-US', speed: 1 }, controller.signal)
      [Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    const [pid] = provider.runningPids();
    expect(pid).toBeDefined();
    expect(isAlive(pid)).toBe(true);
    // ~5 minutes of audio: with nobody reading, the pipe fills and espeak-ng blocks instead of finishing.
    await delay(300);
    expect(isAlive(pid)).toBe(true);

    controller.abort(new Error('client left'));
    await expect(iterator.next()).rejects.toThrow('client left');
    expect(isAlive(pid)).toBe(false);
    expect(provider.runningPids()).toEqual([]);
  });

  it('should kill the process when the consumer stops early', async () => {
    const iterator = provider
      .synthesize(
        { text: LONG_TEXT, voice: voice('de'), language: 'de', speed: 1 },
        new AbortController().signal,
      )
      [Symbol.asyncIterator]();
    await iterator.next();
    const [pid] = provider.runningPids();
    await iterator.return(undefined);
    expect(isAlive(pid)).toBe(false);
  });

  it("should turn a non-zero exit into a ProviderError carrying espeak-ng's message", async () => {
    const broken: Voice = { ...voice('en-us'), id: 'broken', extra: { espeakFile: 'zzz/does-not-exist' } };
    const run = synthesizeAll(provider, broken, 'Hello.');
    await expect(run).rejects.toThrow(ProviderError);
    await expect(run).rejects.toThrow(/voice does not exist/);
  });

  it('should refuse a voice it does not have', async () => {
    const unknown: Voice = { ...voice('en-us'), id: 'klingon-x', extra: {} };
    await expect(synthesizeAll(provider, unknown, 'Hello.')).rejects.toThrow(UnsupportedCapabilityError);
  });

  it('should key the audio cache on the binary and its version, noticing an upgrade at the next health check', async () => {
    // The real binary behind a wrapper whose reported version can change, as a package upgrade would.
    const dir = mkdtempSync(join(tmpdir(), 'espeak-version-'));
    try {
      const versionFile = join(dir, 'version');
      const wrapper = join(dir, 'espeak-ng');
      writeFileSync(versionFile, 'eSpeak NG text-to-speech: 1.51  Data at: /usr/lib/x\n');
      writeFileSync(
        wrapper,
        `#!/bin/sh\nif [ "$1" = --version ]; then cat ${JSON.stringify(versionFile)}; exit 0; fi\nexec espeak-ng "$@"\n`,
        { mode: 0o755 },
      );
      const provider = await createProvider(wrapper);
      expect((await provider.checkHealth()).up).toBe(true);
      const before = provider.cacheIdentity();
      expect(before).toBe(`${wrapper}\neSpeak NG text-to-speech: 1.51  Data at: /usr/lib/x`);
      writeFileSync(versionFile, 'eSpeak NG text-to-speech: 1.52  Data at: /usr/lib/x\n');
      expect(provider.cacheIdentity()).toBe(before); // until the next check
      await provider.checkHealth();
      expect(provider.cacheIdentity()).not.toBe(before);
      expect(provider.cacheIdentity()).toContain('1.52');
      // Another binary path is another engine, whatever it reports.
      const other = await createProvider('espeak-ng');
      await other.checkHealth();
      expect(other.cacheIdentity().startsWith('espeak-ng\n')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('with the binary missing', () => {
    let missing: EspeakProvider;

    beforeAll(async () => {
      missing = await createProvider('/nonexistent/espeak-ng');
    });

    it('should report itself down with the reason, list no voices and fail synthesis cleanly', async () => {
      const health = await missing.checkHealth();
      expect(health.up).toBe(false);
      expect(health.reason).toMatch(/espeak-ng binary not found \(install the Debian package espeak-ng/);
      await expect(missing.listVoices()).resolves.toEqual([]);
      const run = synthesizeAll(missing, voice('en-us'), 'Hello.');
      await expect(run).rejects.toThrow(ProviderError);
      await expect(run).rejects.toThrow(/binary not found/);
      const unknownVoice = synthesizeAll(missing, { ...voice('en-us'), extra: {} }, 'Hello.');
      await expect(unknownVoice).rejects.toThrow(/binary not found/);
    });
  });
});
