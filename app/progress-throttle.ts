/**
 * A request's progress messages, thinned: posted when the phase changes and then at most every PROGRESS_MS within
 * a phase. A download or a read arrives in many small chunks, and a message for each kept the page's thread
 * re-rendering the progress bar while the model loaded, on the cores the engine worker needs.
 */
import type { Progress } from './protocol';

/** At most one progress message per this many ms within a phase: each one renders the page again. */
export const PROGRESS_MS = 50;

export function throttledProgress(post: (p: Progress) => void, now: () => number = () => performance.now()): (p: Progress) => void {
  let phase: Progress['phase'] | null = null;
  let last = 0;
  return (p) => {
    const t = now();
    if (p.phase === phase && t - last < PROGRESS_MS) return;
    phase = p.phase;
    last = t;
    post(p);
  };
}
