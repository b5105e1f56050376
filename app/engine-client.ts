/**
 * The page's one door to the engine: typed async calls answered by the engine worker (app/engine-worker.ts).
 *
 * Every call resolves with its result, or with null when it was superseded: the worker skipped it because a newer
 * request of its kind came first, or (explanations) a newer explanation was requested before it came back. The
 * page therefore only ever shows the latest explanation. Calls reject with the worker's error message.
 */
import type { ModelCard } from '../src/models/model-card';
import type {
  BackendInfo,
  BackendPreference,
  Catalog,
  ConceptsRequest,
  ConceptsResult,
  ConceptUpdate,
  EvaluateRequest,
  EvaluateResult,
  ExplainRequest,
  ExplainResult,
  ImageResult,
  ImageSource,
  ImageView,
  OpenResult,
  PageMessage,
  Progress,
  RandomizeRequest,
  RandomizeResult,
  Request,
  RequestType,
  ResponseMap,
  SeenPixels,
  WorkerMessage,
} from './protocol';

export type { BackendPreference, ExplainResult, ImageView, ModelInfo, OpenResult, Progress } from './protocol';

export class WorkerError extends Error {
  constructor(
    message: string,
    readonly kind: string,
  ) {
    super(message);
    this.name = 'WorkerError';
  }
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly onProgress: ((p: Progress) => void) | undefined;
  readonly onPartial?: ((value: unknown) => void) | undefined;
}

export class EngineClient {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Sequence number of the latest explanation asked for. */
  private latestExplain = 0;
  private noticeListener: ((message: string) => void) | null = null;

  constructor() {
    this.worker = new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'lrp-lens-engine' });
    this.worker.onmessage = (event: MessageEvent<WorkerMessage>) => this.receive(event.data);
    this.worker.onerror = (event) => {
      const error = new WorkerError(`the engine worker failed: ${event.message || 'unknown error'}`, 'WorkerError');
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
  }

  /** Messages the worker sends on its own (a lost GPU device and what was done about it). */
  onNotice(listener: (message: string) => void): void {
    this.noticeListener = listener;
  }

  catalog(): Promise<Catalog | null> {
    return this.call('catalog', { type: 'catalog' });
  }

  init(backend: BackendPreference): Promise<BackendInfo | null> {
    return this.call('init', { type: 'init', backend });
  }

  openBuiltin(modelId: string, mergeBatchNorm: boolean, onProgress?: (p: Progress) => void): Promise<OpenResult | null> {
    return this.call('openBuiltin', { type: 'openBuiltin', modelId, mergeBatchNorm }, onProgress);
  }

  openFiles(files: readonly File[], mergeBatchNorm: boolean, onProgress?: (p: Progress) => void): Promise<OpenResult | null> {
    return this.call('openFiles', { type: 'openFiles', files, mergeBatchNorm }, onProgress);
  }

  /** Opens the current model again (another BatchNorm choice). */
  reopen(mergeBatchNorm: boolean, onProgress?: (p: Progress) => void): Promise<OpenResult | null> {
    return this.call('reopen', { type: 'reopen', mergeBatchNorm }, onProgress);
  }

  setImage(source: ImageSource): Promise<ImageResult | null> {
    return this.call('setImage', { type: 'setImage', source });
  }

  setPreprocessing(preprocessing: ModelCard['preprocessing']): Promise<{ view: ImageView | null } | null> {
    return this.call('setPreprocessing', { type: 'setPreprocessing', preprocessing });
  }

  /** The photo as the model sees it (8-bit RGB at its input resolution): what a share link carries. */
  async seenPixels(): Promise<SeenPixels | null> {
    return (await this.call('seenPixels', { type: 'seenPixels' }))?.pixels ?? null;
  }

  /** Resolves null when a newer explanation was asked for before this one came back. */
  async explain(request: ExplainRequest): Promise<ExplainResult | null> {
    this.latestExplain = Math.max(this.latestExplain, request.seq);
    const result = await this.call('explain', { type: 'explain', request });
    if (!result || result.seq !== this.latestExplain) return null;
    return result;
  }

  /** Explains with each assignment and runs pixel flipping on each; null when a newer one of its channel replaced it. */
  evaluate(request: EvaluateRequest, onProgress?: (p: Progress) => void): Promise<EvaluateResult | null> {
    return this.call('evaluate', { type: 'evaluate', request }, onProgress);
  }

  /** Model randomisation, cumulative from the top layer down; null when a newer one replaced it. */
  randomize(request: RandomizeRequest, onProgress?: (p: Progress) => void): Promise<RandomizeResult | null> {
    return this.call('randomize', { type: 'randomize', request }, onProgress);
  }

  /**
   * The Channels tab's concept maps (CRP): `onUpdate` gets the ranking, then each channel's map as it arrives.
   * Null when a newer request, an explanation, a new model or image, or a cancel (`cancel: true`) replaced it.
   */
  concepts(request: ConceptsRequest, onUpdate?: (u: ConceptUpdate) => void): Promise<ConceptsResult | null> {
    return this.call('concepts', { type: 'concepts', request }, undefined, onUpdate as ((value: unknown) => void) | undefined);
  }

  dispose(): void {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(new WorkerError('the engine was shut down', 'WorkerError'));
    this.pending.clear();
  }

  private call<T extends RequestType>(
    _type: T,
    request: Extract<Request, { type: T }>,
    onProgress?: (p: Progress) => void,
    onPartial?: (value: unknown) => void,
  ): Promise<ResponseMap[T] | null> {
    const id = this.nextId++;
    return new Promise<ResponseMap[T] | null>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress, onPartial });
      const message: PageMessage = { id, request };
      this.worker.postMessage(message);
    });
  }

  private receive(message: WorkerMessage): void {
    if (message.kind === 'notice') {
      this.noticeListener?.(message.message);
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    switch (message.kind) {
      case 'progress':
        pending.onProgress?.(message.progress);
        return;
      case 'partial':
        pending.onPartial?.(message.value);
        return;
      case 'result':
        this.pending.delete(message.id);
        pending.resolve(message.value);
        return;
      case 'superseded':
        this.pending.delete(message.id);
        pending.resolve(null);
        return;
      case 'error':
        this.pending.delete(message.id);
        pending.reject(new WorkerError(message.message, message.name));
        return;
    }
  }
}
