import { useEffect, useState } from 'react';
import { detectPlaybackSupport, type PlaybackSupport } from '../audio/players';

/** Feature detection of the audio paths, once per page (null while it runs). */
export function usePlaybackSupport(): PlaybackSupport | null {
  const [support, setSupport] = useState<PlaybackSupport | null>(null);
  useEffect(() => {
    let live = true;
    void detectPlaybackSupport().then((s) => live && setSupport(s));
    return () => {
      live = false;
    };
  }, []);
  return support;
}
