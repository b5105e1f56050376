/**
 * Sanity check (model randomisation, Adebayo et al. 2018): the weights are re-drawn from the top layer down,
 * cumulatively, and the image explained again at each step. A heatmap that stays the same while the model it
 * explains is destroyed does not explain the model: warned about when the rank correlation stays above 0.9 after
 * half of the layers are randomised.
 */
import { cancelRun, runKey, runSanityCheck } from '../evaluation';
import { selectEvaluation, useStore } from '../store';
import { ProgressRow } from './EvaluatePanel';
import { LineChart } from './LineChart';
import { MapCanvas } from './MapCanvas';

export const SANITY_LIMIT = 0.9;

export function RandomizationPanel() {
  const evaluation = useStore(selectEvaluation);
  const currentKey = useStore((s) => runKey(s, 'sanity'));
  const ready = useStore((s) => !!s.model.current && !!s.image.current && !!s.result.current);
  const run = evaluation.sanity;
  const r = run.result;
  const stale = r !== null && run.key !== currentKey;
  const half = r ? r.steps.find((s) => s.randomized >= Math.ceil(r.weightedLayers / 2)) : undefined;
  const warn = half !== undefined && half.randomized > 0 && half.spearman > SANITY_LIMIT;
  return (
    <div className="randomization-panel">
      <p className="hint">
        The Linear and Conv layers’ weights are re-drawn at random from the top (output) layer down, one more at each step, and the same class is
        explained again. The rank correlation (Spearman) with the trained model’s heatmap should fall.
      </p>
      <div className="row">
        <button type="button" onClick={() => void runSanityCheck()} disabled={!ready}>
          Run sanity check
        </button>
        <ProgressRow run={run} onCancel={() => cancelRun('sanity')} />
      </div>
      {run.error && <p className="error">{run.error}</p>}
      {r && (
        <div className={stale ? 'stale' : undefined}>
          {stale && <p className="hint">Out of date: the rules or the image changed since. Run it again.</p>}
          {warn && (
            <p className="warning" role="alert">
              Warning: with {half.randomized} of {r.weightedLayers} layers randomised the heatmap still correlates with the trained model’s (ρ ={' '}
              {half.spearman.toFixed(2)} &gt; {SANITY_LIMIT}). This explanation depends little on what the model learned.
            </p>
          )}
          <div className="map-row small" data-testid="randomization-maps">
            {r.steps.map((s) => (
              <figure key={s.randomized}>
                <MapCanvas map={s.map} size={96} label={s.layer ? `Heatmap with ${s.randomized} layers randomised` : 'Heatmap of the trained model'} />
                <figcaption>
                  {s.randomized === 0 ? 'trained' : `${s.randomized}: ${s.layer}`}
                  <br />ρ = {s.spearman.toFixed(2)} (|ρ| {s.spearmanAbs.toFixed(2)})
                </figcaption>
              </figure>
            ))}
          </div>
          <LineChart
            title="Rank correlation with the trained model's heatmap per randomised layer"
            xLabel="layers randomised (from the top)"
            yLabel="Spearman ρ"
            height={200}
            series={[
              { label: 'ρ of the relevance', color: '#c0392b', x: r.steps.map((s) => s.randomized), y: r.steps.map((s) => s.spearman) },
              { label: 'ρ of |relevance|', color: '#2471a3', dashed: true, x: r.steps.map((s) => s.randomized), y: r.steps.map((s) => s.spearmanAbs) },
            ]}
          />
          <p className="hint">{(r.ms / 1000).toFixed(1)} s.</p>
        </div>
      )}
    </div>
  );
}
