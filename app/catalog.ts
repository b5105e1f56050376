/** The built-in models and sample photos the page offers (worker side: src/models/builtin.ts brings the importers). */
import { builtinModels, DEFAULT_MODEL_ID, SAMPLE_IMAGES } from '../src/models/builtin';
import type { Catalog } from './protocol';

export const catalog: Catalog = {
  builtins: builtinModels.map((m) => ({ id: m.id, name: m.name })),
  samples: SAMPLE_IMAGES.map((s) => ({ file: s.file, label: s.title, credit: s.credit })),
  defaultModel: DEFAULT_MODEL_ID,
  defaultSample: 'chelsea.png',
};
