/**
 * Helpers the ONNX mappings of several ops share (convolution and pooling geometry, per-channel constants, weight
 * transposes). Each takes the node being imported, so that every error names it.
 */
import type { Tensor } from '../graph';
import type { ConstValue, OnnxNode } from '../ops/import-context';
import { transpose2d, type ConstTensor } from './onnx-const';
import { IMPORT_LIMITS } from './limits';

export function tensor(shape: readonly number[], data: Float32Array): Tensor {
  return { shape: [...shape], data };
}

/** Two positive integers (strides, dilations, kernel sizes), within the input size limit. */
export function pair(n: OnnxNode, v: readonly number[], what: string): number[] {
  if (v.length !== 2 || !v.every((x) => Number.isSafeInteger(x) && x >= 1 && x <= IMPORT_LIMITS.maxInputSide)) {
    n.error(`${what} [${v.slice(0, 8).join(', ')}] should be two integers from 1 to ${IMPORT_LIMITS.maxInputSide}`);
  }
  return [...v];
}

/** Explicit [top, left, bottom, right] pads of a 2-D window op, auto_pad resolved against the input size. */
export function resolvePads(n: OnnxNode, size: readonly number[], kernel: readonly number[], stride: readonly number[], dilation: readonly number[]): number[] {
  const autoPad = n.attr.str('auto_pad', 'NOTSET');
  if (autoPad === 'NOTSET' || autoPad === '') {
    const p = n.attr.ints('pads') ?? [0, 0, 0, 0];
    if (p.length !== 4) n.error(`pads [${p.slice(0, 8).join(', ')}] should have 4 values`);
    if (p.some((v) => v < 0)) n.error('negative pads are not supported');
    if (!p.every((v) => Number.isSafeInteger(v) && v <= IMPORT_LIMITS.maxInputSide)) n.error(`pads [${p.join(', ')}] should be integers up to ${IMPORT_LIMITS.maxInputSide}`);
    return [...p];
  }
  if (autoPad === 'VALID') return [0, 0, 0, 0];
  if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') n.error(`auto_pad ${autoPad} is not supported`);
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const out = Math.ceil(size[i]! / stride[i]!);
    const total = Math.max((out - 1) * stride[i]! + (kernel[i]! - 1) * dilation[i]! + 1 - size[i]!, 0);
    const small = Math.floor(total / 2);
    const b = autoPad === 'SAME_UPPER' ? small : total - small;
    begin.push(b);
    end.push(total - b);
  }
  return [begin[0]!, begin[1]!, end[0]!, end[1]!];
}

/**
 * A constant that broadcasts along axis 1 only (per channel / per output feature) against a value of rank `rank`:
 * returns its `channels` values (a single value is repeated). Errors otherwise.
 */
export function perChannel(n: OnnxNode, c: ConstValue, channels: number, rank: number, what: string): Float32Array {
  const count = c.data.length;
  if (count === 1) {
    n.charge(channels, what);
    return new Float32Array(channels).fill(c.data[0]!);
  }
  const aligned = [...new Array<number>(Math.max(0, rank - c.shape.length)).fill(1), ...c.shape];
  const ok = count === channels && aligned.length === rank && aligned.every((d, i) => (i === 1 ? d === channels : d === 1));
  if (!ok) n.error(`${what} has shape [${c.shape.join(', ')}]; one value per channel (${channels}) expected`);
  n.charge(count, what);
  return new Float32Array(c.data);
}

/**
 * A constant that broadcasts along the last axis only (per feature of a Linear over [..., F]): its `features`
 * values (a single value is repeated). Errors otherwise.
 */
export function perFeature(n: OnnxNode, c: ConstValue, features: number, what: string): Float32Array {
  const count = c.data.length;
  if (count === 1) {
    n.charge(features, what);
    return new Float32Array(features).fill(c.data[0]!);
  }
  const last = c.shape[c.shape.length - 1];
  if (count !== features || last !== features) n.error(`${what} has shape [${c.shape.join(', ')}]; one value per feature (${features}) expected`);
  n.charge(count, what);
  return new Float32Array(c.data);
}

/** A 2-D constant transposed, within the import's memory budget. */
export function transposed(n: OnnxNode, c: ConstValue): ConstValue {
  n.charge(c.data.length, 'the transposed weight');
  return n.guard(() => transpose2d(c as ConstTensor));
}
