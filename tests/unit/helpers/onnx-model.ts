/** Synthetic ONNX models for importer tests, encoded with protobufjs (as in onnx-import.test.ts). */
import * as protobuf from 'protobufjs';
import type { Graph } from '../../../src/engine/graph';
import { importOnnx } from '../../../src/engine/onnx/import-onnx';
import { onnxProto } from '../../../src/engine/onnx/onnx-schema';

const ModelProto = protobuf.parse(onnxProto).root.lookupType('onnx.ModelProto');

export interface TNode {
  op: string;
  inputs: string[];
  outputs?: string[];
  name?: string;
  attrs?: Record<string, number | number[] | string>;
}

export function tensorProto(name: string, dims: number[], values: ArrayLike<number>) {
  return { name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from(values).buffer) };
}

function attrProto(name: string, v: NonNullable<TNode['attrs']>[string]) {
  if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  return Number.isInteger(v) ? { name, type: 2, i: v } : { name, type: 1, f: v };
}

export interface ModelSpec {
  input: { name: string; dims: number[] };
  output: string;
  nodes: TNode[];
  inits?: ReturnType<typeof tensorProto>[];
  opset?: number;
}

export function encodeModel(spec: ModelSpec): Uint8Array {
  const vi = (name: string, dims: number[] = []) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const msg = ModelProto.fromObject({
    irVersion: 8,
    opsetImport: [{ domain: '', version: spec.opset ?? 17 }],
    graph: {
      name: 'g',
      node: spec.nodes.map((n, i) => ({
        opType: n.op,
        name: n.name ?? `/${n.op}_${i}`,
        input: n.inputs,
        output: n.outputs ?? [`${n.op}_${i}_out`],
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attrProto(k, v)),
      })),
      initializer: spec.inits ?? [],
      input: [vi(spec.input.name, spec.input.dims)],
      output: [vi(spec.output)],
    },
  });
  return ModelProto.encode(msg).finish();
}

export function importSpec(spec: ModelSpec): Graph {
  return importOnnx({ name: 'toy.onnx', bytes: encodeModel(spec) }, new Map());
}
