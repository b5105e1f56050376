// The engine worker's progress messages (app/progress-throttle.ts): every phase change, then at most one per
// PROGRESS_MS within a phase.
import { describe, expect, it } from 'vitest';
import { PROGRESS_MS, throttledProgress } from '../../app/progress-throttle';
import type { Progress } from '../../app/protocol';

describe('throttled progress', () => {
  it('posts each phase change at once and then at most one message per PROGRESS_MS within a phase', () => {
    let clock = 1000;
    const posted: Progress[] = [];
    const progress = throttledProgress((p) => posted.push(p), () => clock);
    const at = (ms: number, p: Progress) => {
      clock = 1000 + ms;
      progress(p);
    };
    at(0, { phase: 'download', loaded: 0, total: 100 });
    at(1, { phase: 'download', loaded: 10, total: 100 });
    at(PROGRESS_MS - 1, { phase: 'download', loaded: 20, total: 100 });
    at(PROGRESS_MS, { phase: 'download', loaded: 30, total: 100 });
    at(PROGRESS_MS + 1, { phase: 'import', loaded: 0, total: 0 });
    at(PROGRESS_MS + 2, { phase: 'prepare', loaded: 0, total: 0 });
    at(PROGRESS_MS + 3, { phase: 'prepare', loaded: 0, total: 0 });
    expect(posted.map((p) => `${p.phase} ${p.loaded}`)).toEqual(['download 0', 'download 30', 'import 0', 'prepare 0']);
  });
});
