import { attrNumbers, shapeSize } from '../graph';
import { fail, type OpDef } from './op';

/** Flatten and Reshape: a view of the same values; relevance moves back unchanged. */
export const reshapeOp: OpDef = {
  op: 'reshape',
  inferShape(node, [x]) {
    const target = attrNumbers(node, 'shape');
    let known = 1;
    let infer = -1;
    const out = target.map((d, i) => {
      if (d === 0) return x![i] ?? fail(node, 'shape 0 refers to a missing input dimension');
      if (d === -1) {
        if (infer >= 0) fail(node, 'at most one dimension can be -1');
        infer = i;
        return -1;
      }
      if (!Number.isInteger(d) || d < 0) fail(node, `invalid dimension ${d}`);
      return d;
    });
    for (const d of out) if (d !== -1) known *= d;
    const total = shapeSize(x!);
    if (infer >= 0) {
      if (known === 0 || total % known !== 0) fail(node, `cannot reshape [${x!.join(', ')}] to [${target.join(', ')}]`);
      out[infer] = total / known;
    }
    if (shapeSize(out) !== total) fail(node, `cannot reshape [${x!.join(', ')}] to [${target.join(', ')}]`);
    return out;
  },
  forward: (ctx) => ctx.b.view(ctx.inputs[0]!, ctx.outShape),
  relevance: (ctx) => ctx.pass(0, ctx.r),
};
