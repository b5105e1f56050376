import { useId, useState } from 'react';
import { chooseBuiltin, openModelFiles, progressText, setBackend, setMergeBatchNorm, setPreprocessing } from '../actions';
import { selectModelSlice, selectStatus, useStore } from '../store';
import { useShareUi } from '../share';
import type { ModelCard } from '../../src/models/model-card';
import type { BackendPreference } from '../protocol';

export function ModelPanel() {
  const { current, loading, error, mergeBatchNorm, filesNote } = useStore(selectModelSlice);
  const status = useStore(selectStatus);
  const pending = useShareUi((s) => s.pending);
  const builtins = status.catalog?.builtins ?? [];
  const id = useId();
  const userModel = current && !current.builtin ? current : null;
  const progress = loading?.progress;
  const optionName = (value: string) => (userModel && value === userModel.id ? `Your model: ${userModel.card.name}` : builtins.find((m) => m.id === value)?.name);
  // What the menu shows before a model is open: what the page is waiting for.
  const placeholder = pending
    ? `(waiting for your files: ${pending.name})`
    : loading
      ? `(opening ${loading.label}…)`
      : status.starting
        ? '(starting…)'
        : '(no model open)';
  // The files not used go right after the worker's "Opened X with Y." (when there is one), before the other notes.
  const notes = current ? withFilesNote(current.notes, filesNote) : [];

  return (
    <section className="panel">
      <h2>Model</h2>
      <div className="row">
        <label htmlFor={`${id}-model`}>Model</label>
        <select
          id={`${id}-model`}
          value={current?.id ?? ''}
          disabled={status.starting}
          title={current ? optionName(current.id) : placeholder}
          onChange={(e) => void chooseBuiltin(e.target.value)}
        >
          {!current && <option value="">{placeholder}</option>}
          {builtins.map((m) => (
            <option key={m.id} value={m.id} title={m.name}>
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

      {pending && !current && (
        <p className="hint">
          The share link was made with a model of its sender&apos;s own, {pending.name}: open its files (Open model, or drop them
          here) to see the explanation.
        </p>
      )}

      {current && (
        <>
          <ClassSummary card={current.card} classes={current.classes} />
          {notes.length > 0 && (
            <ul className="notes" aria-label="Notes on this model">
              {notes.map((n) => (
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
          <option value="cpu-fast">CPU (fast)</option>
          <option value="cpu">CPU (float64)</option>
        </select>
      </div>
    </section>
  );
}

function withFilesNote(notes: readonly string[], filesNote: string | null): readonly string[] {
  if (!filesNote) return notes;
  const at = notes[0]?.startsWith('Opened ') ? 1 : 0;
  return [...notes.slice(0, at), filesNote, ...notes.slice(at)];
}

/** What the model's classes cover (the card's classSummary), or that a user's model has no names for them. */
function ClassSummary({ card, classes }: { card: ModelCard; classes: number }) {
  const text = card.classSummary
    ? card.classSummary
    : card.assumed?.classes
      ? `${classes} classes without names ("class 0" …): no class list came with the model; give a classes.json, or a .txt with one name per line, together with its files.`
      : null;
  if (!text) return null;
  return (
    <p className="hint" aria-label="Classes of this model">
      Classes: {text}
    </p>
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
      <dd>
        {classes}
        {card.classSummary && <>: {card.classSummary}</>}
      </dd>
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
  const guess = card.assumed?.preprocessing === true;
  return (
    <form className="preprocessing" aria-labelledby={`${id}-h`} onSubmit={apply}>
      <h3 id={`${id}-h`}>Preprocessing</h3>
      {guess && (
        <div className="notice" role="note" aria-label="The preprocessing is a guess">
          <p>
            <strong>The preprocessing is a guess.</strong> No card.json came with this model: pixels are divided by 255 (Scale),
            with Mean [{list(p.mean)}] and Std [{list(p.std)}], after a {p.resize === 'center-crop' ? 'centre crop' : 'stretch'} to{' '}
            {size}. Set Resize, Scale, Mean and Std below as the model was trained (many use ImageNet&apos;s mean 0.485, 0.456,
            0.406 and std 0.229, 0.224, 0.225) and Apply preprocessing: until then its predictions and heatmaps may be wrong.
          </p>
          <button
            type="button"
            onClick={() => setDraft({ ...draft, scale: String(1 / 255), mean: '0.485, 0.456, 0.406', std: '0.229, 0.224, 0.225' })}
            disabled={card.input.channels !== 3}
          >
            Fill in ImageNet&apos;s mean and std
          </button>
        </div>
      )}
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
