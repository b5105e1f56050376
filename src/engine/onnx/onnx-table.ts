/**
 * The ONNX importer's table: ONNX operator type -> mapping, built from every op's `onnx` declaration
 * (ops/registry.ts) plus the operators that become no layer at all (./onnx-aliases.ts). An operator type has one
 * mapping; the generated operator table (docs/operators.md) is built from this one.
 */
import { ops } from '../ops/registry';
import type { OnnxMapping } from '../ops/import-context';
import type { OpType } from '../graph';
import { onnxAliases } from './onnx-aliases';

export interface OnnxTableEntry {
  readonly onnxOp: string;
  /** The engine layer it becomes, or null when it becomes none (an alias of its input, or removed). */
  readonly op: OpType | null;
  readonly mapping: OnnxMapping;
}

function buildTable(): Map<string, OnnxTableEntry> {
  const table = new Map<string, OnnxTableEntry>();
  const add = (onnxOp: string, op: OpType | null, mapping: OnnxMapping) => {
    const clash = table.get(onnxOp);
    if (clash) throw new Error(`ONNX operator ${onnxOp} is mapped twice (by ${clash.op ?? 'aliases'} and ${op ?? 'aliases'})`);
    table.set(onnxOp, { onnxOp, op, mapping });
  };
  for (const def of Object.values(ops)) for (const [onnxOp, mapping] of Object.entries(def.onnx ?? {})) add(onnxOp, def.op, mapping);
  for (const [onnxOp, mapping] of Object.entries(onnxAliases)) add(onnxOp, null, mapping);
  return table;
}

export const ONNX_TABLE: ReadonlyMap<string, OnnxTableEntry> = buildTable();
export const ONNX_MAPPINGS: ReadonlyMap<string, OnnxMapping> = new Map([...ONNX_TABLE].map(([k, v]) => [k, v.mapping]));
