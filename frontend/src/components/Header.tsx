export function Header() {
  return (
    <header className="top">
      <div className="top-inner">
        <div>
          <h1>
            <img src="/favicon.svg" alt="" width="28" height="28" /> TTS Gateway
          </h1>
          <p className="tagline">
            Speech streamed over a WebSocket and played as it arrives, in every format.
          </p>
        </div>
        <nav aria-label="Gateway links">
          <a href="/docs">API docs</a>
          <a href="/metrics">Metrics</a>
          <a href="/readyz">Readiness</a>
        </nav>
      </div>
    </header>
  );
}
