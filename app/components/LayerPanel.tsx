import { memo, useId, useMemo, useState } from 'react';
import { commitParams, resetLayer, setGroupRule, setLayerParam, setLayerRule, setPreset } from '../actions';
import { EXPAND_LIMIT, groupLayers, layerMatches } from '../layer-groups';
import { NumberField, NumberListField } from './NumberField';
import { RuleEditor } from './RuleEditor';
import { composites, effectiveRules, paramValue, PRESET_ORDER, rulesFor, useCustomRules, type EffectiveRule } from '../rules-state';
import { selectModel, selectResult, selectResultSlice, selectRules, useStore } from '../store';
import { inspectAndShow } from './LayerInspector';
import { formatValue } from '../../src/models/colormap';
import type { LayerInfo } from '../protocol';
import { findRule, type ParamSpec, type ParamValue, type RuleDefinition } from '../../src/rules/rules';

export function LayerPanel() {
  const model = useStore(selectModel);
  const rules = useStore(selectRules);
  const result = useStore(selectResult);
  const id = useId();
  const effective = useMemo(() => (model ? effectiveRules(model, rules) : null), [model, rules]);
  const inspectable = useMemo(() => new Set(result?.layers.map((l) => l.layer) ?? []), [result]);
  const entries = useMemo(() => (model ? groupLayers(model.layers) : []), [model]);
  const [filter, setFilter] = useState('');
  /**
   * Groups the user opened or closed, for the model open now and the filter text now (another model starts afresh;
   * while a filter is typed, the groups holding a match start open).
   */
  const [toggled, setToggled] = useState<{ key: string | null; open: ReadonlyMap<string, boolean> }>({ key: null, open: new Map() });
  const [browsing, setBrowsing] = useState<{ key: string | null; open: ReadonlyMap<string, boolean> }>({ key: null, open: new Map() });
  /** What the last group rule did, for the model it was set on. */
  const [groupMessage, setGroupMessage] = useState<{ model: string | null; text: string }>({ model: null, text: '' });
  const changed = Object.keys(rules.overrides).length;
  const preset = composites.find((c) => c.id === rules.preset);
  const groups = entries.filter((e) => e.kind === 'group');
  const filtering = filter.trim() !== '';
  const modelKey = model ? `${model.id}:${model.layers.length}` : null;
  const toggleKey = filtering ? `${modelKey}|${filter.trim().toLowerCase()}` : modelKey;
  const [state, setState] = filtering ? [toggled, setToggled] : [browsing, setBrowsing];
  const userOpen = state.key === toggleKey ? state.open : null;
  const defaultOpen = !!model && model.layers.length <= EXPAND_LIMIT;
  const isOpen = (path: string) => userOpen?.get(path) ?? (filtering || defaultOpen);
  const setOpen = (paths: readonly string[], open: boolean) =>
    setState((t) => {
      const next = new Map(t.key === toggleKey ? t.open : []);
      for (const p of paths) next.set(p, open);
      return { key: toggleKey, open: next };
    });
  const matches = (layer: LayerInfo) => layerMatches(layer, effective?.get(layer.name)?.rule, filter);
  const shown = model ? model.layers.filter(matches).length : 0;

  const applyGroupRule = (path: string, layers: readonly LayerInfo[], ruleId: string) => {
    const rule = findRule(ruleId);
    if (!rule) return;
    const { set, skipped } = setGroupRule(layers.map((l) => l.name), ruleId);
    const skippedText = skipped.length
      ? `; skipped ${skipped.length} it does not apply to: ${skipped.map((s) => `${s.layer} (${s.type})`).join(', ')}`
      : '';
    setGroupMessage({ model: modelKey, text: `${rule.label} set on ${set.length} layer${set.length === 1 ? '' : 's'} of ${path}${skippedText}.` });
  };

  return (
    <section className="panel rules-panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Layers and rules</h2>
        <RulesFeedback />
      </div>
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
      <RuleEditor />
      {model && effective ? (
        <>
          <div className="row layer-tools">
            <label htmlFor={`${id}-filter`}>Filter layers</label>
            <input
              id={`${id}-filter`}
              type="search"
              value={filter}
              placeholder="name, type or rule"
              aria-describedby={`${id}-filter-count`}
              onChange={(e) => setFilter(e.target.value)}
            />
            <span id={`${id}-filter-count`} className="hint" aria-live="polite">
              {filtering ? `${shown} of ${model.layers.length} layers match` : `${model.layers.length} layers`}
              {groups.length > 0 && `, ${groups.length} groups`}
            </span>
            {groups.length > 0 && (
              <>
                <button type="button" className="small" onClick={() => setOpen(groups.map((g) => g.path), true)}>
                  Expand all groups
                </button>
                <button type="button" className="small" onClick={() => setOpen(groups.map((g) => g.path), false)}>
                  Collapse all groups
                </button>
              </>
            )}
          </div>
          <p className="group-message" role="status" aria-label="Group rule result">
            {groupMessage.model === modelKey ? groupMessage.text : ''}
          </p>
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
              {entries.map((entry) => {
                // A group nested in a closed one is not shown.
                if (!entry.ancestors.every(isOpen)) return null;
                const depth = entry.ancestors.length;
                if (entry.kind === 'layer') {
                  if (!matches(entry.layer)) return null;
                  return (
                    <tbody key={`layer:${entry.layer.name}`}>
                      <LayerRow
                        layer={entry.layer}
                        effective={effective.get(entry.layer.name)!}
                        inspectable={inspectable.has(entry.layer.name)}
                        depth={depth}
                      />
                    </tbody>
                  );
                }
                const visibleAll = entry.all.filter(matches);
                if (visibleAll.length === 0) return null;
                return (
                  <LayerGroup
                    key={`group:${entry.path}`}
                    path={entry.path}
                    layers={entry.all}
                    visible={entry.layers.filter(matches)}
                    shown={visibleAll.length}
                    depth={depth}
                    open={isOpen(entry.path)}
                    onToggle={(open) => setOpen([entry.path], open)}
                    onRule={(ruleId) => applyGroupRule(entry.path, entry.all, ruleId)}
                    effective={effective}
                    inspectable={inspectable}
                    overrides={rules.overrides}
                  />
                );
              })}
            </table>
            {filtering && shown === 0 && <p className="hint">No layer matches “{filter.trim()}”.</p>}
          </div>
        </>
      ) : (
        <p className="hint">The layers appear when a model is open.</p>
      )}
    </section>
  );
}

const ms = (t: number) => (t >= 1000 ? `${(t / 1000).toFixed(2)} s` : `${Math.round(t)} ms`);

/**
 * What became of the last change, where it was made: "Computing…" while the heatmap is recomputed, then "updated"
 * (restarting its short highlight each time). Not a live region: the status line at the top announces the same.
 */
function RulesFeedback() {
  const { current, computing, error } = useStore(selectResultSlice);
  // The inner element is keyed by state, so that each "updated" starts its highlight afresh.
  let shown = null;
  if (computing) {
    shown = (
      <span key="computing" className="rules-feedback busy">
        <span className="spinner" aria-hidden="true" /> Computing…
      </span>
    );
  } else if (error) {
    shown = (
      <span key="failed" className="rules-feedback failed">
        Explanation failed (see the heatmap)
      </span>
    );
  } else if (current) {
    shown = (
      <span key="updated" className="rules-feedback updated">
        <span aria-hidden="true">✓</span> Heatmap updated{current.nonFinite ? ' (not finite)' : ''} in {ms(current.engineMs)}
      </span>
    );
  }
  return (
    <span className="rules-feedback-wrap" data-testid="rules-feedback">
      {shown}
    </span>
  );
}

function LayerGroup({
  path,
  layers,
  visible,
  shown,
  depth,
  open,
  onToggle,
  onRule,
  effective,
  inspectable,
  overrides,
}: {
  path: string;
  /** Every layer in the group, nested groups' included: what its rule sets. */
  layers: readonly LayerInfo[];
  /** Its own layers that match the filter (listed under it; nested groups follow as entries of their own). */
  visible: readonly LayerInfo[];
  /** How many of `layers` match the filter. */
  shown: number;
  depth: number;
  open: boolean;
  onToggle: (open: boolean) => void;
  onRule: (ruleId: string) => void;
  effective: ReadonlyMap<string, EffectiveRule>;
  inspectable: ReadonlySet<string>;
  overrides: Readonly<Record<string, unknown>>;
}) {
  const bodyId = useId();
  // Custom rules defined in the editor join the group's choices as soon as they exist.
  const customDefs = useCustomRules((s) => s.defs);
  const options = useMemo(() => {
    const classes = new Set(layers.map((l) => l.cls));
    const seen = new Set<string>();
    const out: RuleDefinition[] = [];
    for (const cls of classes) {
      for (const r of rulesFor(cls)) {
        if (seen.has(r.id)) continue;
        seen.add(r.id);
        out.push(r);
      }
    }
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps -- rulesFor reads customDefs from its store
  }, [layers, customDefs]);
  // The rule last picked for the group shows while every layer it applies to still has it (arrow keys on the menu
  // then move on from it, as on a layer's menu).
  const [picked, setPicked] = useState('');
  const pickedRule = picked ? findRule(picked) : undefined;
  const shownRule =
    pickedRule && layers.every((l) => !pickedRule.appliesTo.includes(l.cls) || effective.get(l.name)?.rule.id === pickedRule.id) ? picked : '';
  const changed = layers.filter((l) => l.name in overrides).length;
  const rulesUsed = new Set(layers.map((l) => effective.get(l.name)?.rule.label));
  const count = shown === layers.length ? `${layers.length} layers` : `${shown} of ${layers.length} layers`;
  return (
    <>
      <tbody className="layer-group">
        <tr className="group-row">
          <th scope="rowgroup" colSpan={3} style={depth ? { paddingLeft: `${depth * 1.25}rem` } : undefined}>
            <button type="button" className="group-toggle" aria-expanded={open} aria-controls={bodyId} onClick={() => onToggle(!open)}>
              <span aria-hidden="true" className="twisty">
                {open ? '▾' : '▸'}
              </span>{' '}
              {path} <span className="group-count">({count})</span>
            </button>
          </th>
          <td colSpan={3}>
            <select
              aria-label={`Rule for group ${path}`}
              value={shownRule}
              onChange={(e) => {
                setPicked(e.target.value);
                if (e.target.value) onRule(e.target.value);
              }}
            >
              <option value="">Set a rule for the group…</option>
              {options.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.label}
                </option>
              ))}
            </select>{' '}
            <span className="hint">
              {rulesUsed.size === 1 ? [...rulesUsed][0] : `${rulesUsed.size} rules`}
              {changed > 0 && `, ${changed} changed`}
            </span>
          </td>
        </tr>
      </tbody>
      <tbody id={bodyId} hidden={!open} className="group-members">
        {open &&
          visible.map((layer) => (
            <LayerRow key={layer.name} layer={layer} effective={effective.get(layer.name)!} inspectable={inspectable.has(layer.name)} depth={depth + 1} />
          ))}
      </tbody>
    </>
  );
}

const LayerRow = memo(function LayerRow({
  layer,
  effective,
  inspectable,
  depth = 0,
}: {
  layer: LayerInfo;
  effective: EffectiveRule;
  inspectable: boolean;
  /** How many groups it is in (a nested group's layers are indented further; a group's own layers by one step). */
  depth?: number;
}) {
  const options = rulesFor(layer.cls);
  const rule = effective.rule;
  return (
    <tr className={effective.overridden ? 'overridden' : undefined}>
      <th scope="row" className="layer-name" style={depth > 1 ? { paddingLeft: `${(depth - 1) * 1.25}rem` } : undefined}>
        {layer.name}
      </th>
      <td className="type">{layer.op}</td>
      <td className="shape">[{layer.outputShape.join(', ')}]</td>
      <td className="rule">
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
          <button type="button" className="small" onClick={() => inspectAndShow(layer.name)} aria-label={`Inspect ${layer.name}`}>
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
      <NumberField label={`${label} (value)`} value={v} min={spec.min} max={spec.max} onCommit={(x) => setLayerParam(layer, spec.name, x)} />
    </span>
  );
}

function BoundsInput({ layer, spec, value }: { layer: string; spec: ParamSpec; value: ParamValue | undefined }) {
  const channels = useStore((st) => st.model.current?.card.input.channels ?? 1);
  return (
    <span className="param" title={spec.description}>
      <span aria-hidden="true">{spec.name}</span>
      <NumberListField
        label={`${spec.name} for ${layer}`}
        value={typeof value === 'boolean' ? undefined : value}
        channels={channels}
        onCommit={(v) => setLayerParam(layer, spec.name, v)}
      />
    </span>
  );
}
