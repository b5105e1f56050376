/**
 * The layer panel's grouping and filter. Layers are grouped by the module path of their dotted names, as PyTorch
 * names them: the module tree is cut where a module holds at most GROUP_MAX layers, so a DenseNet's groups are its
 * dense layers ("features.denseblock2.denselayer5.conv1" is in "features.denseblock2.denselayer5": the dense block
 * holds too many), a ResNet-18's are "layer1" to "layer4", a ResNet-50's its bottleneck blocks. The layers directly
 * in a module that was cut ("features.conv0" beside the dense blocks) form a group of that module's path. A group
 * of one layer is shown flat, as is a layer without a dot in its name.
 *
 * Groups nest as their paths do: a group sits inside the nearest group whose path is a proper dotted prefix of its
 * own. A torchvision ViT's encoder block "encoder.layers.encoder_layer_0" (LayerNorms and residual Adds) holds its
 * "self_attention" and "mlp" groups, and the "encoder" group (the position-embedding Add and the final LayerNorm)
 * holds the blocks; a DenseNet's "features" holds its dense layers. A rule set on a group reaches every layer in it,
 * nested groups included. (No ViT special case: this is PyTorch's module tree.)
 */
import type { RuleDefinition } from '../src/rules/rules';
import type { LayerInfo } from './protocol';

/** The most layers a group holds (unless they are all directly in one module: "features.0" to "features.30"). */
export const GROUP_MAX = 16;
/** Models with more layers than this open with their groups collapsed. */
export const EXPAND_LIMIT = 80;

export type LayerEntry<T extends { readonly name: string } = LayerInfo> =
  | {
      readonly kind: 'layer';
      readonly layer: T;
      /** The paths of the groups it is in, outermost first. */
      readonly ancestors: readonly string[];
    }
  | {
      readonly kind: 'group';
      readonly path: string;
      /** Its own layers (those not in a nested group), in model order. */
      readonly layers: readonly T[];
      /** Its own layers and those of the groups nested in it, in model order: what a rule for the group sets. */
      readonly all: readonly T[];
      /** The paths of the groups it is in, outermost first (its depth is their number). */
      readonly ancestors: readonly string[];
    };

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

/** The proper dotted prefixes of a path, outermost first ("a.b.c" -> "a", "a.b"). */
function prefixes(path: string): string[] {
  const parts = path.split('.');
  return parts.slice(1).map((_, k) => parts.slice(0, k + 1).join('.'));
}

/**
 * The layers in model order, as flat layers and groups (a group appears where its first layer is, or just before
 * the first group nested in it, whichever comes first; a nested group follows the group it is in).
 */
export function groupLayers<T extends { readonly name: string } = LayerInfo>(layers: readonly T[]): LayerEntry<T>[] {
  const paths = groupPaths(layers.map((l) => l.name));
  const members = new Map<string, T[]>();
  layers.forEach((l, i) => {
    const p = paths[i]!;
    if (!members.has(p)) members.set(p, []);
    members.get(p)!.push(l);
  });
  // Groups: paths of two layers or more, and paths of one layer that hold a group (repeated: such a path may hold one).
  const groups = new Set<string>();
  for (const [p, m] of members) if (p && m.length >= 2) groups.add(p);
  for (let grew = true; grew; ) {
    grew = false;
    for (const g of [...groups])
      for (const q of prefixes(g))
        if (!groups.has(q) && (members.get(q)?.length ?? 0) === 1) {
          groups.add(q);
          grew = true;
        }
  }
  const ancestorsOf = (path: string): string[] => prefixes(path).filter((q) => groups.has(q));
  const all = new Map<string, T[]>([...groups].map((g) => [g, []]));
  layers.forEach((l, i) => {
    const p = paths[i]!;
    if (!groups.has(p)) return;
    for (const g of [...ancestorsOf(p), p]) all.get(g)!.push(l);
  });
  const out: LayerEntry<T>[] = [];
  const emitted = new Set<string>();
  const emit = (g: string): void => {
    if (emitted.has(g)) return;
    const ancestors = ancestorsOf(g);
    for (const a of ancestors) emit(a);
    emitted.add(g);
    out.push({ kind: 'group', path: g, layers: members.get(g)!, all: all.get(g)!, ancestors });
  };
  layers.forEach((layer, i) => {
    const p = paths[i]!;
    if (groups.has(p)) emit(p);
    else {
      // A flat layer inside a group's module (none, as groupPaths cuts): shown in that group.
      const ancestors = p ? [...ancestorsOf(p), ...(groups.has(p) ? [p] : [])] : [];
      for (const a of ancestors) emit(a);
      out.push({ kind: 'layer', layer, ancestors });
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
