/**
 * ONNX operators that become no layer: the identity at inference (Identity, Dropout, Cast to float) and a final
 * LogSoftmax, which is removed because explanations start from the logits (a final Softmax too: ops/softmax.ts).
 */
import type { OnnxMapping, OnnxNode } from '../ops/import-context';
import { dtypeName } from './onnx-const';

const FLOAT = 1;

function identity(n: OnnxNode): void {
  const x = n.rt(0);
  if (n.outs[1] && n.consumers(n.outs[1])) return n.unsupported(`${n.opType} (mask output)`);
  n.alias(n.out(), x);
}

/** A final Softmax/LogSoftmax: removed (also used by the Softmax mapping in ops/softmax.ts). */
export function finalSoftmax(n: OnnxNode): void {
  const x = n.rt(0);
  const out = n.out();
  if (!n.isGraphOutput(out) || n.consumers(out) > 1) return n.unsupported(`${n.opType} (not at the end)`);
  n.alias(out, x);
  n.note(`The final ${n.opType} was removed: explanations start from the logits before the final ${n.opType}.`);
}

export const onnxAliases: Readonly<Record<string, OnnxMapping>> = {
  Identity: { limits: 'the identity', map: identity },
  Dropout: { limits: 'the identity at inference (the mask output unused)', map: identity },
  Cast: {
    limits: 'to float32 only (the identity); casts of constants are folded',
    map(n) {
      n.rt(0);
      const to = n.attr.int('to', 0);
      if (to !== FLOAT) return n.unsupported(`Cast to ${dtypeName(to)}`);
      identity(n);
    },
  },
  LogSoftmax: { limits: 'only at the end of the model, where it is removed', map: finalSoftmax },
};
