/** The evaluation views in tabs: pixel flipping, comparison, sanity check, channels. */
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

export function AnalysisPanel() {
  const tab = useStore((s) => s.evaluation.tab);
  return (
    <section className="panel analysis" aria-label="Evaluate and compare">
      <div role="tablist" className="tabs" aria-label="Evaluation views">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`analysis-tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls="analysis-tabpanel"
            className={tab === t.id ? 'tab selected' : 'tab'}
            onClick={() => setEvaluationTab(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id="analysis-tabpanel" aria-labelledby={`analysis-tab-${tab}`}>
        {tab === 'evaluate' && <EvaluatePanel />}
        {tab === 'compare' && <ComparePanel />}
        {tab === 'sanity' && <RandomizationPanel />}
        {tab === 'channels' && <ChannelsPanel />}
      </div>
    </section>
  );
}
