/**
 * A model opened from its files, with its card: one implementation for the app's engine worker and the CLI. Which
 * files are used (src/models/model-files.ts's rules), class names from a class list given with the model, and
 * notes naming what was read, what was not, and where the class names come from.
 */
import type { Graph } from '../engine/graph';
import { openModelFiles, type ModelFile, type OpenedModel } from '../models/builtin';
import { checkCardFitsGraph, defaultCard, graphClasses, type ModelCard } from '../models/model-card';
import { baseName, chooseClassNames } from '../models/model-files';

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
