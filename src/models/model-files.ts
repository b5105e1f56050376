/**
 * Which of the files a user chose (or dropped) make up the model, and where its class names come from: the rule
 * the app follows when a whole model folder is given. Pure functions on names and bytes: no importer, no DOM, so
 * the page can run them before anything is sent to the engine worker.
 *
 * The rule (README, "Model folders"):
 * 1. Model files are the `.onnx` files and the TF.js model files (`model.json`, or another `.json` that is not a
 *    card or a class list). Exactly one model is opened.
 * 2. Several `.onnx` files: when one of them, `X.onnx`, has a name that every other one extends as
 *    `X.<variant>.onnx` (`resnet20_cifar10.onnx` and `resnet20_cifar10.legacy.onnx`), `X.onnx` is opened and the
 *    variants (other exports of the same model) are not used. Otherwise the choice is ambiguous and nothing is
 *    opened: the message names the models, to open one of them.
 * 3. TF.js: `model.json` is the model; without one, the JSON file that holds a TF.js model (a "modelTopology"), and
 *    when several do, the choice is ambiguous. ONNX files together with a model.json are ambiguous too.
 * 4. Files that are plainly not part of a model (a LICENSE, README, notes, pictures, scripts) are not used.
 *    Everything else (`.onnx.data`, `.bin` shards, `card.json`, class lists) goes to the importer, which reads what
 *    the model refers to.
 * 5. Class names: a `card.json` names them; without one, a class list beside the model: a `.json` or `.txt` file
 *    whose name contains "class", "label" or "synset" (`classes.json`, `labels.txt`, `imagenet_classes.txt`), else
 *    any other `.txt`. The first whose number of names equals the model's number of outputs is used (an ImageNet
 *    model's 1000 included); a list of another length is named and not used.
 */

export interface NamedBytes {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface SkippedFile {
  readonly name: string;
  /** Why it was not used, for the message. */
  readonly why: string;
}

export interface ModelFileChoice {
  /** The model file to open (an .onnx or a TF.js .json); null when no file is one by its name. */
  readonly model: string | null;
  /** The files to give the importer: the model, its possible companions, card.json and class lists. */
  readonly send: readonly string[];
  /** Files not used, with why. */
  readonly skipped: readonly SkippedFile[];
  /** Several models and no rule to pick one: their names (nothing should be opened). */
  readonly ambiguous: readonly string[] | null;
}

export const baseName = (name: string): string => name.split(/[\\/]/).pop() ?? name;
const lower = (name: string): string => baseName(name).toLowerCase();

/** A model card: card.json. */
export const isCardFile = (name: string): boolean => lower(name) === 'card.json';

/** A class list by its name: .json or .txt naming classes, labels or synsets. */
export function isClassListName(name: string): boolean {
  const n = lower(name);
  return /\.(json|txt)$/.test(n) && /(class|label|synset)/.test(n);
}

/** Files that are plainly not part of a model. */
export function isUnrelatedFile(name: string): boolean {
  const n = lower(name);
  return (
    /^(license|licence|copying|notice|readme|authors|changelog)([._-].*)?$/.test(n) ||
    /\.(md|rst|html?|pdf|py|ipynb|sh|yaml|yml|toml|cfg|png|jpe?g|gif|webp|bmp|svg|zip|tar|gz|tgz|7z)$/.test(n)
  );
}

const isOnnxName = (name: string): boolean => lower(name).endsWith('.onnx');
const isModelJsonName = (name: string): boolean => {
  const n = lower(name);
  return n.endsWith('.json') && !isCardFile(n) && !isClassListName(n);
};

/**
 * Of several .onnx files, the one every other extends as X.<variant>.onnx; null when there is none. One file: it.
 */
export function preferredOnnx(names: readonly string[]): string | null {
  if (names.length === 1) return names[0]!;
  const stem = (n: string) => baseName(n).replace(/\.onnx$/i, '');
  for (const candidate of names) {
    const s = stem(candidate);
    if (names.every((other) => other === candidate || stem(other).startsWith(`${s}.`))) return candidate;
  }
  return null;
}

/** Applies the rule above to the names of the files given. */
export function chooseModelFiles(names: readonly string[]): ModelFileChoice {
  const skipped: SkippedFile[] = [];
  const onnx = names.filter(isOnnxName);
  const jsons = names.filter(isModelJsonName);
  let model: string | null = null;
  let ambiguous: string[] | null = null;

  const modelJson = jsons.filter((n) => lower(n) === 'model.json');
  if (onnx.length > 0 && modelJson.length > 0) {
    ambiguous = [...onnx, ...modelJson];
  } else if (onnx.length > 0) {
    model = preferredOnnx(onnx);
    if (!model) ambiguous = [...onnx];
    else {
      for (const other of onnx) {
        if (other !== model) skipped.push({ name: other, why: `another export of the same model: of ${baseName(model)} and its variants, ${baseName(model)} is opened` });
      }
    }
  } else if (jsons.length > 0) {
    // model.json, else the only JSON; among several other JSON files the importer finds the TF.js model by content.
    model = modelJson.length === 1 ? modelJson[0]! : jsons.length === 1 ? jsons[0]! : null;
    if (modelJson.length > 1) ambiguous = [...modelJson];
  }

  const skippedNames = new Set(skipped.map((s) => s.name));
  const send: string[] = [];
  for (const name of names) {
    if (skippedNames.has(name)) continue;
    if (isUnrelatedFile(name)) {
      skipped.push({ name, why: 'not part of a model' });
      continue;
    }
    send.push(name);
  }
  return { model, send, skipped, ambiguous };
}

/** The message for an ambiguous choice: which models were given, and what to do. */
export function ambiguousMessage(models: readonly string[]): string {
  return `several models were given (${models.map(baseName).join(', ')}): open one model at a time, an .onnx with its .onnx.data or a TF.js model.json with its weight files (only where X.onnx comes with variants named X.<variant>.onnx is X.onnx chosen by itself)`;
}

/** "Not used: a (why), b (why)." for the model's notes; null when every file given was used. */
export function skippedMessage(skipped: readonly SkippedFile[]): string | null {
  if (skipped.length === 0) return null;
  return `Not used: ${skipped.map((s) => `${baseName(s.name)} (${s.why})`).join(', ')}.`;
}

// ---------------------------------------------------------------------------------------------------------------
// Class names

/** Most class names a list may have (the same bound as a model card's). */
const MAX_CLASSES = 100_000;
const MAX_NAME_CHARS = 1000;

const decoder = new TextDecoder();

/**
 * The class names a file holds, or why it holds none. JSON: a list of names, or an object from index to a name or
 * to [id, name] (Keras' imagenet_class_index.json). Text: one name per line (blank lines at the end dropped; a
 * leading WordNet id such as "n01440764 " removed, as in synset_words.txt).
 */
export function parseClassList(file: NamedBytes): { names: string[] } | { problem: string } {
  const text = decoder.decode(file.bytes).replace(/^\uFEFF/, '');
  let names: string[];
  if (lower(file.name).endsWith('.json')) {
    let v: unknown;
    try {
      v = JSON.parse(text) as unknown;
    } catch (e) {
      return { problem: `not valid JSON (${(e as Error).message})` };
    }
    if (Array.isArray(v)) {
      if (!v.every((x) => typeof x === 'string')) return { problem: 'a list whose entries are not all names (strings)' };
      names = v as string[];
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0 || !entries.every(([k]) => /^\d+$/.test(k))) return { problem: 'neither a list of names nor an object from class index to name' };
      names = [];
      for (const [k, x] of entries) {
        const name = typeof x === 'string' ? x : Array.isArray(x) && typeof x[x.length - 1] === 'string' ? (x[x.length - 1] as string) : null;
        if (name === null) return { problem: `class ${k} has no name` };
        const i = Number(k);
        if (i >= MAX_CLASSES) return { problem: `class index ${k} is beyond ${MAX_CLASSES}` };
        names[i] = name;
      }
      const hole = Array.from({ length: names.length }, (_, i) => i).find((i) => names[i] === undefined);
      if (hole !== undefined) return { problem: `class ${hole} has no name` };
    } else return { problem: 'neither a list of names nor an object from class index to name' };
  } else {
    const lines = text.split(/\r?\n/);
    while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
    names = lines.map((l) => l.trim().replace(/^n\d{8}\s+/, ''));
  }
  if (names.length === 0) return { problem: 'no names' };
  if (names.length > MAX_CLASSES) return { problem: `${names.length} names, more than the ${MAX_CLASSES} allowed` };
  const long = names.findIndex((n) => n.length > MAX_NAME_CHARS);
  if (long >= 0) return { problem: `name ${long} has more than ${MAX_NAME_CHARS} characters` };
  return { names };
}

/** Files that may hold class names, best first (rule 5): none when a card.json is among them. */
export function classListCandidates(names: readonly string[]): string[] {
  if (names.some(isCardFile)) return [];
  const byName = names.filter(isClassListName);
  const otherText = names.filter((n) => !isClassListName(n) && lower(n).endsWith('.txt') && !isUnrelatedFile(n));
  return [...byName, ...otherText];
}

export interface ClassNamesChoice {
  /** The file the names come from, and the names; null when none fits. */
  readonly chosen: { readonly file: string; readonly names: readonly string[] } | null;
  /** Notes for the user: the file used, and lists that were not (with why). */
  readonly notes: readonly string[];
}

/** The class names for a model with `outputs` classes, from the files given (rule 5). */
export function chooseClassNames(files: readonly NamedBytes[], outputs: number): ClassNamesChoice {
  const notes: string[] = [];
  const candidates = classListCandidates(files.map((f) => f.name));
  for (const name of candidates) {
    const file = files.find((f) => f.name === name)!;
    const parsed = parseClassList(file);
    if ('problem' in parsed) {
      if (isClassListName(name)) notes.push(`${baseName(name)} was not used for class names: ${parsed.problem}.`);
      continue;
    }
    if (parsed.names.length !== outputs) {
      if (isClassListName(name) || parsed.names.length > 1) {
        notes.push(`${baseName(name)} was not used for class names: it has ${parsed.names.length}, but the model has ${outputs} outputs.`);
      }
      continue;
    }
    notes.unshift(`Class names from ${baseName(name)} (${outputs}).`);
    return { chosen: { file: name, names: parsed.names }, notes };
  }
  return { chosen: null, notes };
}
