import { activationOp, leakyParams, unaryOnnx } from './activation';
import type { KerasLayer } from './import-context';
import { keepFlat } from '../tfjs/keras-helpers';

/** LeakyReLU(alpha): x for x > 0, alpha * x otherwise. */
export const leakyReluOp = activationOp('leakyrelu', 'leaky-relu', 'leaky-relu-gradient', {
    summary: 'LeakyReLU(alpha): Pass in the composites, or its gradient.',
    onnx: { LeakyRelu: unaryOnnx('leakyrelu', 'any shape', (n) => ({ alpha: n.attr.float('alpha', 0.01) })) },
    keras: { LeakyReLU: { limits: 'any alpha (negative_slope in Keras 3)', map: kerasLeakyRelu } },
  }, leakyParams);

/** Keras LeakyReLU: alpha (Keras 2, default 0.3) or negative_slope (Keras 3). */
function kerasLeakyRelu(layer: KerasLayer) {
  const c = layer.config;
  const x = layer.input();
  const alpha = typeof c.alpha === 'number' ? c.alpha : typeof c.negative_slope === 'number' ? c.negative_slope : 0.3;
  return layer.emit('leakyrelu', [x], { alpha }, {}, x.shape, keepFlat(x));
}
