/**
 * The layer panel's grouping and filter. Layers are grouped by the module path of their dotted names, as PyTorch
 * names them: the module tree is cut where a module holds at most GROUP_MAX layers, so a DenseNet's groups are its
 * dense layers ("features.denseblock2.denselayer5.conv1" is in "features.denseblock2.denselayer5": the dense block
 * holds too many), a ResNet-18's are "layer1" to "layer4", a ResNet-50's its bottleneck blocks. The layers directly
 * in a module that was cut ("features.conv0" beside the dense blocks) form a group of that module's path. A group
 * of one layer is shown flat, as is a layer without a dot in its name.
 */
import type { RuleDefinition } from '../src/rules/rules';
import type { LayerInfo } from './protocol';

/** The most layers a group holds (unless they are all directly in one module: "features.0" to "features.30"). */
export const GROUP_MAX = 16;
/** Models with more layers than this open with their groups collapsed. */
export const EXPAND_LIMIT = 80;

export type LayerEntry<T extends { readonly name: string } = LayerInfo> =
  | { readonly kind: 'layer'; readonly layer: T }
  | { readonly kind: 'group'; readonly path: string; readonly layers: readonly T[] };

interface ModuleNode {
  readonly path: string;
  /** Layers named exactly this path. */
  readonly own: number[];
  readonly children: Map<string, ModuleNode>;
  count: number;
}

const node = (path: string): ModuleNode => ({ path, own: [], children: new Map(), count: 0 });

/** The group path of each layer ('' for none), by index. */
export function groupPaths(names: readonly string[]): string[] {
  const root = node('');
  names.forEach((name, i) => {
    let at = root;
    at.count++;
    for (const part of name.split('.')) {
      const path = at.path ? `${at.path}.${part}` : part;
      let next = at.children.get(part);
      if (!next) at.children.set(part, (next = node(path)));
      at = next;
      at.count++;
    }
    at.own.push(i);
  });
  const out = names.map(() => '');
  const all = (n: ModuleNode, path: string): void => {
    for (const i of n.own) out[i] = path;
    for (const c of n.children.values()) all(c, path);
  };
  // A module with few enough layers is a group; a larger one is cut, and the layers directly in it (its own and
  // its children's that hold a single layer) are grouped under its path.
  const cut = (n: ModuleNode): void => {
    for (const i of n.own) out[i] = n.path;
    for (const c of n.children.values()) {
      if (c.count === 1) all(c, n.path);
      else if (c.count <= GROUP_MAX) all(c, c.path);
      else cut(c);
    }
  };
  cut(root);
  return out;
}

/** The layers in model order, as flat layers and groups (a group appears where its first layer is). */
export function groupLayers<T extends { readonly name: string } = LayerInfo>(layers: readonly T[]): LayerEntry<T>[] {
  const paths = groupPaths(layers.map((l) => l.name));
  const members = new Map<string, T[]>();
  layers.forEach((l, i) => {
    const p = paths[i]!;
    if (!members.has(p)) members.set(p, []);
    members.get(p)!.push(l);
  });
  const out: LayerEntry<T>[] = [];
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
