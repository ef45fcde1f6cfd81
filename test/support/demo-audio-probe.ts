/**
 * Watches a page's audio from outside the app, as an init script: every node the app connects to an
 * AudioContext's destination is also tapped by an AnalyserNode of ours, sampled every 20 ms; every WebSocket
 * records when it opened, received and closed. The app's own counters are not consulted.
 *
 * Runs inside the page (serialized by `page.addInitScript`), so it may use nothing from this module's scope;
 * the root tsconfig has no DOM types, hence the `any`.
 */
export function installDemoProbe(): void {
  const w = globalThis as any;
  const THRESHOLD = 1e-3; // −60 dBFS
  const TICK_MS = 20;
  const probe = {
    contexts: [] as any[],
    /** Times (performance.now()) at which the destination carried sound. */
    audible: [] as number[],
    sockets: [] as {
      url: string;
      openAt?: number;
      firstMessageAt?: number;
      lastMessageAt?: number;
      closeAt?: number;
      closeCode?: number;
    }[],
    reset() {
      probe.audible.length = 0;
      probe.sockets.length = 0;
    },
    liveContexts() {
      return probe.contexts.filter((c) => c.ctx.state !== 'closed').length;
    },
  };
  w.__probe = probe;

  const Original = w.AudioContext;
  class ProbedAudioContext extends Original {
    constructor(...args: any[]) {
      super(...args);
      const tap = this.createAnalyser();
      tap.fftSize = 512;
      probe.contexts.push({ ctx: this, tap, data: new Float32Array(512) });
    }
  }
  w.AudioContext = ProbedAudioContext;

  const connect = w.AudioNode.prototype.connect;
  w.AudioNode.prototype.connect = function (this: any, target: any, ...rest: any[]) {
    const result = connect.call(this, target, ...rest);
    if (target instanceof w.AudioDestinationNode) {
      const entry = probe.contexts.find((c) => c.ctx === this.context);
      if (entry && this !== entry.tap) connect.call(this, entry.tap);
    }
    return result;
  };

  setInterval(() => {
    for (const c of probe.contexts) {
      if (c.ctx.state !== 'running') continue;
      c.tap.getFloatTimeDomainData(c.data);
      let peak = 0;
      for (const s of c.data) peak = Math.max(peak, Math.abs(s));
      if (peak > THRESHOLD) {
        probe.audible.push(performance.now());
        break;
      }
    }
  }, TICK_MS);

  const Socket = w.WebSocket;
  class ProbedWebSocket extends Socket {
    constructor(url: string, ...rest: any[]) {
      super(url, ...rest);
      const rec: (typeof probe.sockets)[number] = { url: String(url) };
      probe.sockets.push(rec);
      this.addEventListener('open', () => (rec.openAt = performance.now()));
      this.addEventListener('message', () => {
        rec.firstMessageAt ??= performance.now();
        rec.lastMessageAt = performance.now();
      });
      this.addEventListener('close', (ev: any) => {
        rec.closeAt = performance.now();
        rec.closeCode = ev.code;
      });
    }
  }
  w.WebSocket = ProbedWebSocket;
}
