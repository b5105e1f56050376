/** Reads a file by its path under a models folder (e.g. "resnet20-cifar10/resnet20_cifar10.onnx"); null when absent. */
export type ModelFileReader = (path: string) => Promise<Uint8Array | null>;

/** A built-in model whose files are not there: skipped, not a failure. */
export class ModelFilesMissing extends Error {
  override name = 'ModelFilesMissing';
}
