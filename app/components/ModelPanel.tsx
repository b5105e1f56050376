import { useId, useState } from 'react';
import { chooseBuiltin, openModelFiles, progressText, setBackend, setMergeBatchNorm, setPreprocessing } from '../actions';
import { selectModelSlice, selectStatus, useStore } from '../store';
import type { ModelCard } from '../../src/models/model-card';
import type { BackendPreference } from '../protocol';

export function ModelPanel() {
  const { current, loading, error, mergeBatchNorm } = useStore(selectModelSlice);
  const status = useStore(selectStatus);
  const builtins = status.catalog?.builtins ?? [];
  const id = useId();
  const userModel = current && !current.builtin ? current : null;
  const progress = loading?.progress;

  return (
    <section className="panel">
      <h2>Model</h2>
      <div className="row">
        <label htmlFor={`${id}-model`}>Model</label>
        <select
          id={`${id}-model`}
          value={current?.id ?? ''}
          disabled={status.starting}
          onChange={(e) => void chooseBuiltin(e.target.value)}
        >
          {!current && <option value="">(opening…)</option>}
          {builtins.map((m) => (
            <option key={m.id} value={m.id}>
              {m.name}
            </option>
          ))}
          {userModel && <option value={userModel.id}>Your model: {userModel.card.name}</option>}
        </select>
      </div>
      <div className="row">
        <label className="button file-button">
          <span>Open model</span>
          <input
            type="file"
            multiple
            className="visually-hidden"
            aria-describedby={`${id}-files-hint`}
            onChange={(e) => {
              const files = [...(e.target.files ?? [])];
              e.target.value = '';
              void openModelFiles(files);
            }}
          />
        </label>
        <span id={`${id}-files-hint`} className="hint">
          ONNX (with its .onnx.data) or TF.js (model.json with its shards): choose or drop all files together.
        </span>
      </div>

      {loading && (
        <div className="progress" role="status" aria-live="polite">
          <progress
            aria-label="Loading progress"
            {...(progress && progress.total > 0 ? { value: progress.loaded, max: progress.total } : {})}
          />
          <span>{progressText(loading.label, progress ?? null)}</span>
        </div>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
          {current && <> The model before, {current.card.name}, is still open.</>}
        </p>
      )}

      {current && (
        <>
          {current.notes.length > 0 && (
            <ul className="notes" aria-label="Notes on this model">
              {current.notes.map((n) => (
                <li key={n}>{n}</li>
              ))}
            </ul>
          )}
          {current.batchNorms > 0 && (
            <div className="row">
              <label>
                <input type="checkbox" checked={mergeBatchNorm} onChange={(e) => void setMergeBatchNorm(e.target.checked)} /> Merge
                BatchNorm into the layer before it (Zennit); off: BatchNorm layers get rules of their own (Captum)
              </label>
            </div>
          )}
          <ModelCardView
            card={current.card}
            inputShape={current.inputShape}
            classes={current.classes}
            layers={current.layers.length}
            builtin={current.builtin}
          />
          <Preprocessing card={current.card} editable={!current.builtin} />
        </>
      )}

      <div className="row">
        <label htmlFor={`${id}-backend`}>Backend</label>
        <select id={`${id}-backend`} value={status.preference} onChange={(e) => void setBackend(e.target.value as BackendPreference)}>
          <option value="auto">Automatic (the faster one here)</option>
          <option value="webgpu">WebGPU</option>
          <option value="cpu">CPU</option>
        </select>
      </div>
    </section>
  );
}

function ModelCardView({
  card,
  inputShape,
  classes,
  layers,
  builtin,
}: {
  card: ModelCard;
  inputShape: readonly number[];
  classes: number;
  layers: number;
  builtin: boolean;
}) {
  const licenseHref = builtin && card.license.file ? `/models/${encodeURIComponent(card.id)}/${encodeURIComponent(card.license.file)}` : null;
  return (
    <details className="about">
      <summary>About this model: input [{inputShape.join(', ')}], {classes} classes</summary>
    <dl className="facts">
      <dt>Name</dt>
      <dd>{card.name}</dd>
      <dt>Input</dt>
      <dd>[{inputShape.join(', ')}]</dd>
      <dt>Classes</dt>
      <dd>{classes}</dd>
      <dt>Layers</dt>
      <dd>{layers}</dd>
      {card.license.name && (
        <>
          <dt>License</dt>
          <dd>{licenseHref ? <a href={licenseHref}>{card.license.name}</a> : card.license.name}</dd>
        </>
      )}
      {card.source && (
        <>
          <dt>Source</dt>
          <dd className="source">{card.source}</dd>
        </>
      )}
      {card.notes && (
        <>
          <dt>Notes</dt>
          <dd>{card.notes}</dd>
        </>
      )}
    </dl>
    </details>
  );
}

const list = (v: readonly number[]) => v.map((x) => String(x)).join(', ');

function parseList(text: string): number[] | null {
  const v = text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(Number);
  return v.length > 0 && v.every(Number.isFinite) ? v : null;
}

/** The preprocessing: shown for every model, editable for a model the user opened. */
function Preprocessing({ card, editable }: { card: ModelCard; editable: boolean }) {
  const p = card.preprocessing;
  const id = useId();
  const [draft, setDraft] = useState({ scale: String(p.scale), mean: list(p.mean), std: list(p.std), resize: p.resize });
  const [problem, setProblem] = useState<string | null>(null);
  const [shown, setShown] = useState(p);
  if (shown !== p) {
    // The model (or its preprocessing) changed: start from its values.
    setShown(p);
    setDraft({ scale: String(p.scale), mean: list(p.mean), std: list(p.std), resize: p.resize });
    setProblem(null);
  }
  const size = `${card.input.width} x ${card.input.height}`;
  if (!editable) {
    return (
      <dl className="facts" aria-label="Preprocessing">
        <dt>Preprocessing</dt>
        <dd>
          {p.resize === 'center-crop' ? 'centre crop' : 'stretch'} to {size}; pixel x {p.scale.toPrecision(4)}, minus mean [
          {list(p.mean)}], divided by std [{list(p.std)}]
        </dd>
      </dl>
    );
  }
  const apply = (e: React.FormEvent) => {
    e.preventDefault();
    const scale = Number(draft.scale);
    const mean = parseList(draft.mean);
    const std = parseList(draft.std);
    if (!Number.isFinite(scale) || scale <= 0) return setProblem('scale must be a positive number');
    const channels = card.input.channels;
    const counts = channels === 1 ? '1 value' : `1 or ${channels} values`;
    if (!mean || (mean.length !== 1 && mean.length !== channels)) return setProblem(`mean must be ${counts}, separated by commas`);
    if (!std || (std.length !== 1 && std.length !== channels) || std.some((s) => s <= 0)) {
      return setProblem(`std must be ${counts} (positive), separated by commas`);
    }
    setProblem(null);
    void setPreprocessing({ ...p, scale, mean, std, resize: draft.resize });
  };
  return (
    <form className="preprocessing" aria-labelledby={`${id}-h`} onSubmit={apply}>
      <h3 id={`${id}-h`}>Preprocessing</h3>
      <p className="hint">
        The image is resized to {size}; each pixel value (0-255) is multiplied by the scale, then the mean is subtracted and
        the result divided by the std, per channel.
      </p>
      <div className="grid2">
        <label htmlFor={`${id}-resize`}>Resize</label>
        <select id={`${id}-resize`} value={draft.resize} onChange={(e) => setDraft({ ...draft, resize: e.target.value as typeof draft.resize })}>
          <option value="center-crop">Centre crop, then resize</option>
          <option value="stretch">Stretch to size</option>
        </select>
        <label htmlFor={`${id}-scale`}>Scale</label>
        <input id={`${id}-scale`} inputMode="decimal" value={draft.scale} onChange={(e) => setDraft({ ...draft, scale: e.target.value })} />
        <label htmlFor={`${id}-mean`}>Mean</label>
        <input id={`${id}-mean`} value={draft.mean} onChange={(e) => setDraft({ ...draft, mean: e.target.value })} />
        <label htmlFor={`${id}-std`}>Std</label>
        <input id={`${id}-std`} value={draft.std} onChange={(e) => setDraft({ ...draft, std: e.target.value })} />
      </div>
      <button type="submit">Apply preprocessing</button>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
    </form>
  );
}
