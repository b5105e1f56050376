/**
 * Reading a model from its path in Node: the model file and the companion files it names, from beside it (a TF.js
 * model.json's weight shards, an .onnx's external data). Shared by the CLI (src/cli/explain.ts) and the library's
 * Node entry (src/lib/node.ts); the bytes go to openModelFiles (src/models/builtin.ts) as the app's files do.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ModelFile } from '../models/builtin';
import { modelCompanions } from '../models/model-companions';
import { isClassListName } from '../models/model-files';

/** A model file (or a companion) that cannot be read; the message names the path and why. */
export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/** A file's bytes; ModelFileError naming `what` (e.g. "the model ") and the path when it cannot be read. */
export async function readFileBytes(path: string, what = ''): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (code ?? message(e));
    throw new ModelFileError(`cannot read ${what}${path}: ${why}`);
  }
}

export interface ReadModelFilesOptions {
  /** The .onnx's external-data file, when it is not beside the model under the name the model gives it. */
  readonly modelData?: string | undefined;
  /** Receives the TF.js shards that are not beside the model.json (they are left out; the importer names them). */
  readonly missingShards?: string[];
  /** How the caller's user passes `modelData`, for messages (the CLI: '--model-data'). */
  readonly dataOption?: string;
}

/** The model's files: model.json and its shards, or the .onnx and its external data, read from beside it. */
export async function readModelFilesAt(path: string, options: ReadModelFilesOptions = {}): Promise<ModelFile[]> {
  const dataOption = options.dataOption ?? 'modelData';
  const dir = dirname(path);
  const name = basename(path);
  const bytes = await readFileBytes(path, 'the model ');
  const files: ModelFile[] = [{ name, bytes }];
  const companions = modelCompanions(name, bytes);
  if (companions.kind !== 'onnx') {
    if (options.modelData !== undefined) throw new ModelFileError(`${dataOption} is for ONNX models; a TF.js model.json finds its weight files beside it`);
    // Shards that are missing are left out: the importer reports unsupported layers first, then them.
    for (const shard of companions.files) {
      const p = join(dir, shard);
      if (existsSync(p)) files.push({ name: shard, bytes: await readFileBytes(p) });
      else options.missingShards?.push(shard);
    }
    return files;
  }
  const locations = companions.files;
  if (options.modelData !== undefined) {
    const data = await readFileBytes(options.modelData, 'the model data ');
    files.push({ name: basename(options.modelData), bytes: data });
    // The model refers to its data by the name it was saved with; the file given stands for it.
    for (const loc of locations) if (basename(loc) !== basename(options.modelData) && locations.length === 1) files.push({ name: loc, bytes: data });
    return files;
  }
  for (const loc of locations) {
    const p = join(dir, loc);
    if (!existsSync(p)) throw new ModelFileError(`${name} keeps its weights in ${loc}, which is not beside it: pass it with ${dataOption}`);
    files.push({ name: loc, bytes: await readFileBytes(p) });
  }
  return files;
}

/**
 * The class lists beside a model (files named for classes, labels or synsets: src/models/model-files.ts), which
 * the CLI gives with the model's files as the app does with a folder's; none when the folder cannot be listed.
 */
export async function readClassListsBeside(path: string): Promise<ModelFile[]> {
  const dir = dirname(path);
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && isClassListName(e.name)).map((e) => e.name).sort();
  } catch {
    return [];
  }
  const lists: ModelFile[] = [];
  for (const name of names) lists.push({ name, bytes: await readFileBytes(join(dir, name)) });
  return lists;
}
