import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { GatewayApi } from '../api/http';
import { TtsStream } from '../api/stream';
import type { SessionRequest } from '../api/types';
import { resolveWsUrl } from '../api/url';
import type { PlayerKind } from '../audio/player';
import { choosePlayer, createPlayer, guessPlaybackSupport, type PlaybackSupport } from '../audio/players';
import { Utterance, type UtteranceSnapshot } from '../session/utterance';

export interface Speaker {
  utterance: Utterance | null;
  snapshot: UtteranceSnapshot | null;
  speak(request: SessionRequest): void;
  stop(): void;
}

export interface SpeakerOptions {
  prebufferMs: number;
  /** `?player=`: force a playback path where it can play the format (testing the fallbacks). */
  preferredPlayer: PlayerKind | null;
}

/** One utterance at a time: a new Speak stops and replaces the previous one. */
export function useSpeaker(
  api: GatewayApi,
  support: PlaybackSupport | null,
  options: SpeakerOptions,
): Speaker {
  const [utterance, setUtterance] = useState<Utterance | null>(null);
  const current = useRef<Utterance | null>(null);

  const speak = useCallback(
    (request: SessionRequest) => {
      current.current?.stop();
      // The player (and its AudioContext) is made here, inside the click, so autoplay rules allow it.
      const kind = choosePlayer(
        request.target_format,
        support ?? guessPlaybackSupport(),
        options.preferredPlayer,
      );
      const sampleRate = request.sample_rate_hz ?? 24000;
      const player = kind
        ? createPlayer(kind, request.target_format, { sampleRate, prebufferMs: options.prebufferMs })
        : null;
      const u = new Utterance(request, player, {
        api,
        now: () => performance.now(),
        openStream: (session, handlers) =>
          new TtsStream(resolveWsUrl(session.ws_url, location.href), handlers),
      });
      current.current = u;
      setUtterance(u);
      void u.start();
    },
    [api, support, options.prebufferMs, options.preferredPlayer],
  );

  const stop = useCallback(() => current.current?.stop(), []);

  useEffect(() => () => current.current?.dispose(), []);

  const snapshot = useSyncExternalStore(
    useCallback((l: () => void) => utterance?.subscribe(l) ?? (() => undefined), [utterance]),
    () => utterance?.getSnapshot() ?? null,
  );

  return { utterance, snapshot, speak, stop };
}
