/**
 * The app's one door to the model layer (src/models): built-in models fetched from /models/<id>/, a user's files,
 * model cards and image preprocessing. Runs in the engine worker.
 */
import type { Graph } from '../src/engine/graph';
import { builtinFileUrl, findBuiltinModel, openModelFiles, type ModelFile, type OpenedModel } from '../src/models/builtin';
import { checkCardFitsGraph, defaultCard, graphClasses, parseModelCard, type ModelCard } from '../src/models/model-card';
import { baseName, chooseClassNames } from '../src/models/model-files';
import { preprocess } from '../src/models/image';
import type { Progress } from './protocol';

export type { ModelFile };

function builtin(id: string) {
  const model = findBuiltinModel(id);
  if (!model) throw new Error(`there is no built-in model "${id}"`);
  return model;
}

export async function builtinCard(id: string): Promise<ModelCard> {
  const model = builtin(id);
  const url = builtinFileUrl(model, model.card);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
  return parseModelCard(await response.text(), `${id}/${model.card}`);
}

/** Fetches a built-in model's card and files, reporting bytes as they arrive. */
export async function fetchBuiltinFiles(id: string, progress: (p: Progress) => void): Promise<{ card: ModelCard; files: ModelFile[] }> {
  const model = builtin(id);
  const card = await builtinCard(id);
  const responses = await Promise.all(
    model.files.map(async (name) => {
      const url = builtinFileUrl(model, name);
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
      return { name, response };
    }),
  );
  const total = responses.reduce((s, r) => s + Number(r.response.headers.get('Content-Length') ?? 0), 0);
  let loaded = 0;
  progress({ phase: 'download', loaded, total });
  const files: ModelFile[] = [];
  for (const { name, response } of responses) {
    const chunks: Uint8Array[] = [];
    const reader = response.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      progress({ phase: 'download', loaded, total: Math.max(total, loaded), file: name });
    }
    const bytes = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    files.push({ name, bytes });
  }
  return { card, files };
}

/** A model opened from files, with the class names found beside it (src/models/model-files.ts, rule 5). */
export interface ImportedModel extends OpenedModel {
  readonly classNames?: readonly string[];
}

/**
 * Opens a model from its files. Its notes then say, first, which files were read and where the class names come
 * from, and which files given were not used.
 */
export function importModelFiles(files: readonly ModelFile[]): ImportedModel {
  const opened = openModelFiles(files);
  const classes = opened.card ? null : chooseClassNames(files, graphClasses(opened.graph));
  const used = new Set([...opened.used, ...(classes?.chosen ? [classes.chosen.file] : [])]);
  const side = opened.used.filter((n) => n !== opened.modelFile);
  const notes: string[] = [];
  // Said when more files were given than the model needs (a folder), so that it is clear which ones it came from.
  if (files.length > opened.used.length) {
    notes.push(`Opened ${baseName(opened.modelFile)}${side.length ? ` with ${side.map(baseName).join(', ')}` : ''}.`);
  }
  notes.push(...(classes?.notes ?? []));
  const unused = files.filter((f) => !used.has(f.name)).map((f) => baseName(f.name));
  if (unused.length) notes.push(`Not read: ${unused.join(', ')} (the model does not refer to ${unused.length === 1 ? 'it' : 'them'}).`);
  return {
    ...opened,
    notes: [...notes, ...opened.notes],
    ...(classes?.chosen ? { classNames: classes.chosen.names } : {}),
  };
}

/**
 * The card of a model opened from files: a card.json given with them (checked against the graph), else the model
 * layer's default for the graph, with the class names of a class list given with them.
 */
export function cardForFiles(graph: Graph, opened: ImportedModel, files: readonly ModelFile[]): ModelCard {
  if (opened.card) {
    checkCardFitsGraph(opened.card, graph);
    return opened.card;
  }
  const name = opened.modelFile.split(/[\\/]/).pop() ?? opened.modelFile;
  return defaultCard(graph, name, opened.format, files.map((f) => f.name), opened.classNames);
}

export function preprocessImage(rgba: { width: number; height: number; data: Uint8ClampedArray }, card: ModelCard): Float32Array {
  return preprocess(rgba, card);
}
