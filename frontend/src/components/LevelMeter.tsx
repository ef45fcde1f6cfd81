import { useEffect, useRef } from 'react';

interface LevelMeterProps {
  analyser: AnalyserNode | null;
  /** Animate only while something plays. */
  running: boolean;
}

const FLOOR_DB = -60;

/** The output waveform and its level in dBFS, drawn from the player's AnalyserNode on each frame. */
export function LevelMeter({ analyser, running }: LevelMeterProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const bar = useRef<HTMLDivElement>(null);
  const label = useRef<HTMLSpanElement>(null);

  useEffect(() => {
    const el = canvas.current;
    const ctx = el?.getContext('2d');
    if (!el || !ctx) return;
    const data = new Float32Array(analyser?.fftSize ?? 2048);
    let frame = 0;
    const draw = () => {
      const width = (el.width = el.clientWidth * devicePixelRatio);
      const height = (el.height = el.clientHeight * devicePixelRatio);
      ctx.clearRect(0, 0, width, height);
      ctx.strokeStyle = '#c3cad5';
      ctx.beginPath();
      ctx.moveTo(0, height / 2);
      ctx.lineTo(width, height / 2);
      ctx.stroke();
      let rms = 0;
      if (analyser && running) {
        analyser.getFloatTimeDomainData(data);
        ctx.strokeStyle = '#0b57d0';
        ctx.lineWidth = 1.5 * devicePixelRatio;
        ctx.beginPath();
        for (let i = 0; i < data.length; i++) {
          const x = (i / (data.length - 1)) * width;
          const y = height / 2 - data[i] * (height / 2) * 0.95;
          if (i === 0) ctx.moveTo(x, y);
          else ctx.lineTo(x, y);
          rms += data[i] * data[i];
        }
        ctx.stroke();
        rms = Math.sqrt(rms / data.length);
      }
      const db = rms > 0 ? Math.max(FLOOR_DB, 20 * Math.log10(rms)) : FLOOR_DB;
      if (bar.current) bar.current.style.width = `${((db - FLOOR_DB) / -FLOOR_DB) * 100}%`;
      if (label.current) label.current.textContent = rms > 0 ? `${db.toFixed(0)} dBFS` : 'silent';
      if (running) frame = requestAnimationFrame(draw);
    };
    draw();
    return () => cancelAnimationFrame(frame);
  }, [analyser, running]);

  return (
    <div className="meter">
      <canvas ref={canvas} className="waveform" aria-hidden="true" />
      <div className="level" aria-hidden="true">
        <div className="level-fill" ref={bar} />
      </div>
      <p className="hint">
        Output level: <span ref={label}>silent</span>
      </p>
    </div>
  );
}
