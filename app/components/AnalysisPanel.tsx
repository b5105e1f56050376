/** The evaluation views in tabs: pixel flipping, comparison, sanity check, channels. */
import { useRef } from 'react';
import { setEvaluationTab } from '../evaluation';
import type { EvaluationSlice } from '../store';
import { useStore } from '../store';
import { ChannelsPanel } from './ChannelsPanel';
import { ComparePanel } from './ComparePanel';
import { EvaluatePanel } from './EvaluatePanel';
import { RandomizationPanel } from './RandomizationPanel';

const TABS: readonly { id: EvaluationSlice['tab']; label: string }[] = [
  { id: 'evaluate', label: 'Evaluate' },
  { id: 'compare', label: 'Compare' },
  { id: 'sanity', label: 'Sanity check' },
  { id: 'channels', label: 'Channels' },
];

/**
 * The WAI-ARIA tabs pattern with automatic activation: only the selected tab is in the Tab order (roving tabindex);
 * ArrowLeft / ArrowRight (wrapping), Home and End move the focus to another tab and select it.
 */
export function AnalysisPanel() {
  const tab = useStore((s) => s.evaluation.tab);
  const tabRefs = useRef(new Map<EvaluationSlice['tab'], HTMLButtonElement>());

  const onKeyDown = (event: React.KeyboardEvent<HTMLDivElement>) => {
    const current = TABS.findIndex((t) => t.id === tab);
    const last = TABS.length - 1;
    const next =
      event.key === 'ArrowRight'
        ? current >= last
          ? 0
          : current + 1
        : event.key === 'ArrowLeft'
          ? current <= 0
            ? last
            : current - 1
          : event.key === 'Home'
            ? 0
            : event.key === 'End'
              ? last
              : null;
    if (next === null || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    const id = TABS[next]!.id;
    setEvaluationTab(id);
    tabRefs.current.get(id)?.focus();
  };

  return (
    <section className="panel analysis" aria-label="Evaluate and compare">
      <div role="tablist" className="tabs" aria-label="Evaluation views" aria-orientation="horizontal" onKeyDown={onKeyDown}>
        {TABS.map((t) => (
          <button
            key={t.id}
            ref={(el) => {
              if (el) tabRefs.current.set(t.id, el);
              else tabRefs.current.delete(t.id);
            }}
            type="button"
            role="tab"
            id={`analysis-tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls="analysis-tabpanel"
            tabIndex={tab === t.id ? 0 : -1}
            className={tab === t.id ? 'tab selected' : 'tab'}
            onClick={() => setEvaluationTab(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id="analysis-tabpanel" aria-labelledby={`analysis-tab-${tab}`} tabIndex={0}>
        {tab === 'evaluate' && <EvaluatePanel />}
        {tab === 'compare' && <ComparePanel />}
        {tab === 'sanity' && <RandomizationPanel />}
        {tab === 'channels' && <ChannelsPanel />}
      </div>
    </section>
  );
}
