/** The benchmark input: 60 s of real speech (espeak-ng) at 24 kHz, or a synthetic signal without it. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testSignal } from '../../src/transcode/testing/audio-check';

export const INPUT_RATE = 24000;
export const INPUT_SECONDS = 60;

const TEXT = `
The gateway turns text into speech and streams it to the caller while the engine is still talking.
Every chunk of audio is resampled, encoded and sent as soon as it arrives, so the listener hears the
first words a fraction of a second after asking. Telephone calls want mu-law at eight kilohertz,
browsers want MP3 or Opus, and some tools want raw samples. One stream must never stall another,
and a slow client must not make the server hold more and more audio in memory. When an engine fails,
the session says so with a clear error instead of silence. The weather today is mild with a light
breeze from the west, and the forecast for tomorrow promises sunshine in the morning and a few showers
in the afternoon. Please remember to bring an umbrella, just in case. Numbers are read out in full:
one hundred and twenty three, four thousand five hundred, and the year two thousand and twenty six.
`;

export interface BenchInput {
  readonly pcm: Int16Array;
  readonly source: string;
}

export function loadInput(): BenchInput {
  const dir = join(tmpdir(), 'tts-gateway-bench');
  mkdirSync(dir, { recursive: true });
  const raw = join(dir, `speech-${INPUT_RATE}.s16le`);
  try {
    if (!existsSync(raw)) {
      const wav = join(dir, 'speech.wav');
      execFileSync('espeak-ng', ['-v', 'en-us', '-s', '160', '-w', wav, TEXT.replace(/\s+/g, ' ').trim()]);
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-y',
        '-i',
        wav,
        '-ar',
        String(INPUT_RATE),
        '-ac',
        '1',
        '-f',
        's16le',
        raw,
      ]);
    }
    const bytes = readFileSync(raw);
    const speech = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    // Loop the utterance to exactly 60 s.
    const pcm = new Int16Array(INPUT_RATE * INPUT_SECONDS);
    for (let i = 0; i < pcm.length; i += speech.length) pcm.set(speech.subarray(0, pcm.length - i), i);
    return {
      pcm,
      source: `espeak-ng speech (en-us, ${(speech.length / INPUT_RATE).toFixed(1)} s looped to 60 s)`,
    };
  } catch {
    return {
      pcm: testSignal(INPUT_RATE, INPUT_SECONDS),
      source: 'synthetic chirp + tone (espeak-ng not found)',
    };
  }
}

/** 40 ms chunks of the input, as a provider yields them. */
export function chunks40(pcm: Int16Array, rate = INPUT_RATE): Int16Array[] {
  const size = (rate * 40) / 1000;
  const out: Int16Array[] = [];
  for (let i = 0; i + size <= pcm.length; i += size) out.push(pcm.subarray(i, i + size));
  return out;
}
