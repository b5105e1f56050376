import { memo, useId, useMemo, useState } from 'react';
import { commitParams, inspectLayer, resetLayer, setLayerParam, setLayerRule, setPreset } from '../actions';
import { composites, effectiveRules, paramValue, PRESET_ORDER, rulesFor, type EffectiveRule } from '../rules-state';
import { selectModel, selectResult, selectRules, useStore } from '../store';
import { formatValue } from '../colormap';
import type { LayerInfo } from '../protocol';
import type { ParamSpec, ParamValue } from '../../src/rules/rules';

export function LayerPanel() {
  const model = useStore(selectModel);
  const rules = useStore(selectRules);
  const result = useStore(selectResult);
  const id = useId();
  const effective = useMemo(() => (model ? effectiveRules(model, rules) : null), [model, rules]);
  const inspectable = useMemo(() => new Set(result?.layers.map((l) => l.layer) ?? []), [result]);
  const changed = Object.keys(rules.overrides).length;
  const preset = composites.find((c) => c.id === rules.preset);

  return (
    <section className="panel">
      <h2>Layers and rules</h2>
      <div className="row">
        <label htmlFor={`${id}-preset`}>Preset</label>
        <select id={`${id}-preset`} value={rules.preset} onChange={(e) => setPreset(e.target.value)} aria-describedby={`${id}-preset-hint`}>
          {PRESET_ORDER.map((p) => {
            const c = composites.find((x) => x.id === p);
            return c ? (
              <option key={p} value={p}>
                {c.label}
              </option>
            ) : null;
          })}
        </select>
        {changed > 0 && (
          <button type="button" onClick={() => setPreset(rules.preset)}>
            Reset {changed} changed layer{changed === 1 ? '' : 's'}
          </button>
        )}
      </div>
      <p id={`${id}-preset-hint`} className="hint">
        {preset?.description}
        {preset?.params.includes('low') && ' ZBox bounds: the lowest and highest input value the preprocessing allows.'} Every layer
        can then be changed below.
      </p>
      {model && effective ? (
        <div className="table-wrap">
          <table className="layers">
            <thead>
              <tr>
                <th scope="col">Layer</th>
                <th scope="col">Type</th>
                <th scope="col">Output</th>
                <th scope="col">Rule</th>
                <th scope="col">Parameters</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {model.layers.map((layer) => (
                <LayerRow key={layer.name} layer={layer} effective={effective.get(layer.name)!} inspectable={inspectable.has(layer.name)} />
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p className="hint">The layers appear when a model is open.</p>
      )}
    </section>
  );
}

const LayerRow = memo(function LayerRow({ layer, effective, inspectable }: { layer: LayerInfo; effective: EffectiveRule; inspectable: boolean }) {
  const options = rulesFor(layer.cls);
  const rule = effective.rule;
  return (
    <tr className={effective.overridden ? 'overridden' : undefined}>
      <th scope="row" className="layer-name">
        {layer.name}
      </th>
      <td>{layer.op}</td>
      <td className="shape">[{layer.outputShape.join(', ')}]</td>
      <td>
        <select aria-label={`Rule for ${layer.name}`} value={rule.id} onChange={(e) => setLayerRule(layer.name, e.target.value)} title={rule.description}>
          {options.map((r) => (
            <option key={r.id} value={r.id}>
              {r.label}
            </option>
          ))}
        </select>
      </td>
      <td className="params">
        {rule.params.map((spec) => (
          <ParamControl key={spec.name} layer={layer.name} spec={spec} value={paramValue(rule, effective.params, spec.name)} />
        ))}
      </td>
      <td className="actions">
        {effective.overridden && (
          <button type="button" className="small" onClick={() => resetLayer(layer.name)} aria-label={`Reset ${layer.name} to the preset`}>
            Reset
          </button>
        )}
        {inspectable && (
          <button type="button" className="small" onClick={() => inspectLayer(layer.name)} aria-label={`Inspect ${layer.name}`}>
            Inspect
          </button>
        )}
      </td>
    </tr>
  );
});

/** Slider ranges for the common parameters; epsilon moves on a log scale. */
function sliderRange(spec: ParamSpec & { kind: 'number' }): { min: number; max: number; step: number; log: boolean } {
  switch (spec.name) {
    case 'epsilon':
      return { min: -12, max: 2, step: 0.1, log: true };
    case 'gamma':
      return { min: 0, max: 4, step: 0.05, log: false };
    case 'alpha':
      return { min: 1, max: 6, step: 0.1, log: false };
    case 'beta':
      return { min: 0, max: 5, step: 0.1, log: false };
    default:
      return { min: spec.min, max: Math.min(spec.max, spec.min + 10), step: 0.01, log: false };
  }
}

function ParamControl({ layer, spec, value }: { layer: string; spec: ParamSpec; value: ParamValue | undefined }) {
  const label = `${spec.name} for ${layer}`;
  if (spec.kind === 'boolean') {
    return (
      <label className="param check" title={spec.description}>
        <input
          type="checkbox"
          aria-label={label}
          checked={value === true}
          onChange={(e) => setLayerParam(layer, spec.name, e.target.checked)}
        />{' '}
        {spec.name}
      </label>
    );
  }
  if (spec.kind === 'bounds') {
    return <BoundsInput layer={layer} spec={spec} value={value} />;
  }
  const v = typeof value === 'number' ? value : spec.default;
  const range = sliderRange(spec);
  const sliderValue = range.log ? Math.log10(Math.max(v, 10 ** range.min)) : Math.min(range.max, Math.max(range.min, v));
  return (
    <span className="param" title={spec.description}>
      <span className="param-name" aria-hidden="true">
        {spec.name === 'epsilon' ? 'ε' : spec.name === 'gamma' ? 'γ' : spec.name === 'alpha' ? 'α' : spec.name === 'beta' ? 'β' : spec.name}
      </span>
      <input
        type="range"
        aria-label={label}
        aria-valuetext={formatValue(v)}
        min={range.min}
        max={range.max}
        step={range.step}
        value={sliderValue}
        onChange={(e) => {
          const x = Number(e.target.value);
          const next = range.log ? Number((10 ** x).toPrecision(3)) : x;
          if (next >= spec.min && next <= spec.max) setLayerParam(layer, spec.name, next, true);
        }}
        onPointerUp={commitParams}
        onKeyUp={commitParams}
        onBlur={commitParams}
      />
      <NumberInput label={`${label} (value)`} value={v} min={spec.min} max={spec.max} onCommit={(x) => setLayerParam(layer, spec.name, x)} />
    </span>
  );
}

/** A number typed in full: applied on Enter or when focus leaves, ignored when out of range. */
function NumberInput({ label, value, min, max, onCommit }: { label: string; value: number; min: number; max: number; onCommit: (v: number) => void }) {
  const [draft, setDraft] = useState<string | null>(null);
  const commit = () => {
    if (draft === null) return;
    const x = Number(draft);
    setDraft(null);
    if (draft.trim() !== '' && Number.isFinite(x) && x >= min && x <= max && x !== value) onCommit(x);
  };
  const text = draft ?? String(value);
  const invalid = draft !== null && !(Number(draft) >= min && Number(draft) <= max);
  return (
    <input
      className="num"
      type="text"
      inputMode="decimal"
      aria-label={label}
      aria-invalid={invalid}
      value={text}
      size={7}
      onChange={(e) => setDraft(e.target.value)}
      onBlur={commit}
      onKeyDown={(e) => {
        if (e.key === 'Enter') commit();
        if (e.key === 'Escape') setDraft(null);
      }}
    />
  );
}

function BoundsInput({ layer, spec, value }: { layer: string; spec: ParamSpec; value: ParamValue | undefined }) {
  const shown = Array.isArray(value) ? value.map((x) => formatValue(x)).join(', ') : typeof value === 'number' ? formatValue(value) : '';
  const [draft, setDraft] = useState<string | null>(null);
  const commit = () => {
    if (draft === null) return;
    const parts = draft.split(/[\s,]+/).filter(Boolean).map(Number);
    setDraft(null);
    if (parts.length === 0 || !parts.every(Number.isFinite)) return;
    setLayerParam(layer, spec.name, parts.length === 1 ? parts[0]! : parts);
  };
  return (
    <label className="param" title={spec.description}>
      {spec.name}{' '}
      <input
        className="num"
        type="text"
        aria-label={`${spec.name} for ${layer}`}
        value={draft ?? shown}
        size={12}
        onChange={(e) => setDraft(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => e.key === 'Enter' && commit()}
      />
    </label>
  );
}
