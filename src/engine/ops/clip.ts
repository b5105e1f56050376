import { attrNumber } from '../graph';
import { activationOp } from './activation';
import { fail } from './op';

/** Clip / ReLU6: clamp to [min, max]. */
export const clipOp = activationOp('clip', 'clip', 'clip-gradient', (node) => {
  const p0 = attrNumber(node, 'min', -3.4e38);
  const p1 = attrNumber(node, 'max', 3.4e38);
  if (!(p0 <= p1)) fail(node, `min ${p0} is above max ${p1}`);
  return { p0, p1 };
});
