import { useCallback, useEffect, useState } from 'react';
import type { GatewayApi } from '../api/http';
import type { VoiceCatalog } from '../api/types';

export interface CatalogState {
  catalog: VoiceCatalog | null;
  error: string | null;
  reload(): void;
}

/** `GET /v1/voices`, once (and again on reload). */
export function useCatalog(api: GatewayApi): CatalogState {
  const [catalog, setCatalog] = useState<VoiceCatalog | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    api.voices(abort.signal).then(
      (c) => {
        setCatalog(c);
        setError(null);
      },
      (e: unknown) => {
        if (!abort.signal.aborted) setError(`Could not load the voices: ${(e as Error).message}`);
      },
    );
    return () => abort.abort();
  }, [api, attempt]);

  const reload = useCallback(() => setAttempt((n) => n + 1), []);
  return { catalog, error, reload };
}
