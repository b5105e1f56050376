/**
 * The app's one door to the model layer (src/models): built-in models fetched from /models/<id>/, a user's files,
 * model cards (src/session/open-model.ts opens them, as the CLI does). Runs in the engine worker.
 */
import { builtinFileUrl, findBuiltinModel, type ModelFile } from '../src/models/builtin';
import { parseModelCard, type ModelCard } from '../src/models/model-card';
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

/** Fetches a built-in model's card and files (all requests at once), reporting bytes as they arrive. */
export async function fetchBuiltinFiles(id: string, progress: (p: Progress) => void): Promise<{ card: ModelCard; files: ModelFile[] }> {
  const model = builtin(id);
  const [card, responses] = await Promise.all([
    builtinCard(id),
    Promise.all(
      model.files.map(async (name) => {
        const url = builtinFileUrl(model, name);
        const response = await fetch(url);
        if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
        return { name, response };
      }),
    ),
  ]);
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
