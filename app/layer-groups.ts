/**
 * The layer panel's grouping and filter: layers grouped by the module path of their dotted names
 * ("features.denseblock2.denselayer5.conv1" is in "features.denseblock2.denselayer5"), at most GROUP_DEPTH levels
 * deep. A group that would hold one layer folds into an enclosing group that holds several; a layer left alone (or
 * one without a dot in its name) is shown flat.
 */
import type { RuleDefinition } from '../src/rules/rules';
import type { LayerInfo } from './protocol';

/** Module levels a group path keeps ("features.1.0.block.0.0" is in "features.1.0"). */
export const GROUP_DEPTH = 3;
/** Models with more layers than this open with their groups collapsed. */
export const EXPAND_LIMIT = 80;

export type LayerEntry = { readonly kind: 'layer'; readonly layer: LayerInfo } | { readonly kind: 'group'; readonly path: string; readonly layers: readonly LayerInfo[] };

/** The module path a layer's name puts it in ('' for a name without a dot). */
export function modulePath(name: string): string {
  const parts = name.split('.');
  if (parts.length < 2) return '';
  return parts.slice(0, Math.min(parts.length - 1, GROUP_DEPTH)).join('.');
}

/** The layers in model order, as flat layers and groups (a group appears where its first layer is). */
export function groupLayers(layers: readonly LayerInfo[]): LayerEntry[] {
  const count = new Map<string, number>();
  for (const l of layers) {
    const p = modulePath(l.name);
    count.set(p, (count.get(p) ?? 0) + 1);
  }
  const pathOf = (name: string): string => {
    let p = modulePath(name);
    if (!p || (count.get(p) ?? 0) > 1) return p;
    // Alone in its module: into the nearest enclosing one that holds several layers, else flat.
    while (p.includes('.')) {
      p = p.slice(0, p.lastIndexOf('.'));
      if ((count.get(p) ?? 0) > 1) return p;
    }
    return '';
  };
  const members = new Map<string, LayerInfo[]>();
  const paths = layers.map((l) => pathOf(l.name));
  layers.forEach((l, i) => {
    const p = paths[i]!;
    if (!members.has(p)) members.set(p, []);
    members.get(p)!.push(l);
  });
  const out: LayerEntry[] = [];
  const emitted = new Set<string>();
  layers.forEach((layer, i) => {
    const p = paths[i]!;
    const group = members.get(p)!;
    if (!p || group.length < 2) out.push({ kind: 'layer', layer });
    else if (!emitted.has(p)) {
      emitted.add(p);
      out.push({ kind: 'group', path: p, layers: group });
    }
  });
  return out;
}

/** Whether a layer matches the filter text: by name, type (op or layer class) or rule (label or id). */
export function layerMatches(layer: LayerInfo, rule: RuleDefinition | undefined, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  return [layer.name, layer.op, layer.cls, rule?.label ?? '', rule?.id ?? ''].some((s) => s.toLowerCase().includes(q));
}
