/**
 * The TF.js importer's table: Keras layer class -> mapping, built from every op's `keras` declaration
 * (ops/registry.ts) plus the classes that become several layer kinds or none (./keras-layers.ts). A class has one
 * mapping; the generated operator table (docs/operators.md) is built from this one.
 */
import type { OpType } from '../graph';
import { ops } from '../ops/registry';
import type { KerasMapping } from '../ops/import-context';
import { KERAS_LAYERS } from './keras-layers';

export interface KerasTableEntry {
  /** The engine layers the Keras layer becomes (none: the identity at inference, or removed). */
  readonly layers: readonly OpType[];
  readonly limits: string;
  readonly mapping: KerasMapping;
}

function buildTable(): Map<string, KerasTableEntry> {
  const table = new Map<string, KerasTableEntry & { by: string }>();
  const add = (cls: string, by: string, fallback: readonly OpType[], mapping: KerasMapping) => {
    const clash = table.get(cls);
    if (clash) throw new Error(`Keras layer ${cls} is mapped twice (by ${clash.by} and ${by})`);
    table.set(cls, { layers: mapping.layers ?? fallback, limits: mapping.limits, mapping, by });
  };
  for (const def of Object.values(ops)) for (const [cls, mapping] of Object.entries(def.keras ?? {})) add(cls, def.op, [def.op], mapping);
  for (const [cls, mapping] of Object.entries(KERAS_LAYERS)) add(cls, 'tfjs/keras-layers.ts', [], mapping);
  return new Map([...table].map(([k, { by: _by, ...e }]) => [k, e]));
}

export const KERAS_TABLE: ReadonlyMap<string, KerasTableEntry> = buildTable();
