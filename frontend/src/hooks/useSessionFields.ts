import { useEffect, useState } from 'react';
import type { GatewayApi } from '../api/http';
import { sessionRequestFields } from '../api/openapi';

/** Fields this gateway's session request accepts, from `/docs-json` (empty until known or if unavailable). */
export function useSessionFields(api: GatewayApi): ReadonlySet<string> {
  const [fields, setFields] = useState<ReadonlySet<string>>(new Set());
  useEffect(() => {
    const abort = new AbortController();
    api.openApi(abort.signal).then(
      (doc) => setFields(sessionRequestFields(doc)),
      () => undefined, // no document: offer only the contract's fields
    );
    return () => abort.abort();
  }, [api]);
  return fields;
}
