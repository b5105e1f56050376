/**
 * Turning a model source into the model's files (name + bytes), browser-safe: a URL is fetched together with the
 * companion files the model names (an .onnx's external data, a TF.js model.json's weight shards) from beside it;
 * File/Blob objects and named bytes are read as they are.
 */
import { modelCompanions } from '../models/model-companions';
import { LrpLensError } from './errors.js';
import type { ModelFileInput, NamedBytes } from './types.js';

export interface ModelFileBytes {
  readonly name: string;
  readonly bytes: Uint8Array;
}

type Fetch = (url: string) => Promise<Response>;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/** The last segment of a URL's path, decoded ("model" when there is none). */
function urlFileName(url: URL): string {
  const last = url.pathname.split('/').pop() ?? '';
  try {
    return decodeURIComponent(last) || 'model';
  } catch {
    return last || 'model';
  }
}

/** A URL's bytes; null for HTTP 404 when `missingOk`, else an LrpLensError naming the URL and why. */
async function fetchBytes(fetchFn: Fetch, url: URL, what: string, missingOk = false): Promise<Uint8Array | null> {
  let res: Response;
  try {
    res = await fetchFn(url.href);
  } catch (e) {
    throw new LrpLensError(`cannot fetch ${what}${url.href}: ${message(e)}`);
  }
  if (!res.ok) {
    if (missingOk && res.status === 404) return null;
    throw new LrpLensError(`cannot fetch ${what}${url.href}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  }
  return new Uint8Array(await res.arrayBuffer());
}

/** The URL a string names: absolute, or relative to the page (document.baseURI) in a browser. */
export function toUrl(source: string | URL): URL {
  if (source instanceof URL) return source;
  const base = typeof document !== 'undefined' && typeof document.baseURI === 'string' ? document.baseURI : undefined;
  try {
    return base === undefined ? new URL(source) : new URL(source, base);
  } catch {
    throw new LrpLensError(`"${source}" is not a URL${base === undefined ? ' (give an absolute URL; for a file path, import loadModel from "lrp-lens/node")' : ''}`);
  }
}

/** The model at `url` and the files it names beside it. */
export async function fetchModelFiles(url: URL, fetchFn: Fetch | undefined): Promise<ModelFileBytes[]> {
  const f: Fetch | undefined = fetchFn ?? (typeof fetch === 'function' ? (u) => fetch(u) : undefined);
  if (!f) throw new LrpLensError('this environment has no fetch: pass the model as files, or a fetch function in the options');
  const name = urlFileName(url);
  const bytes = (await fetchBytes(f, url, 'the model '))!;
  const files: ModelFileBytes[] = [{ name, bytes }];
  const companions = modelCompanions(name, bytes);
  for (const file of companions.files) {
    const at = new URL(file, url);
    // A missing TF.js shard is left out: the importer names it (after any unsupported layer).
    const data = await fetchBytes(f, at, companions.kind === 'onnx' ? `the external data of ${name}, ` : `a weight file of ${name}, `, true);
    if (data) files.push({ name: file, bytes: data });
    else if (companions.kind === 'onnx') throw new LrpLensError(`${name} keeps its weights in ${file}, which is not beside it: ${at.href} was not found (HTTP 404)`);
  }
  return files;
}

const isBlob = (v: unknown): v is Blob & { name: string } => typeof Blob !== 'undefined' && v instanceof Blob;

/** Files given by the caller (File objects, or names with bytes) as bytes. */
export async function readGivenFiles(files: readonly ModelFileInput[]): Promise<ModelFileBytes[]> {
  if (files.length === 0) throw new LrpLensError('no model files given: give an .onnx (with its .onnx.data), or a TF.js model.json with its weight files');
  return Promise.all(
    files.map(async (file, i): Promise<ModelFileBytes> => {
      if (isBlob(file)) {
        if (typeof file.name !== 'string' || file.name === '') throw new LrpLensError(`model file ${i} is a Blob without a name: give a File, or { name, bytes }`);
        return { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) };
      }
      const f = file as Partial<NamedBytes> | null;
      if (!f || typeof f.name !== 'string' || !(f.bytes instanceof Uint8Array || f.bytes instanceof ArrayBuffer)) {
        throw new LrpLensError(`model file ${i} is neither a File nor { name: string, bytes: Uint8Array | ArrayBuffer }`);
      }
      return { name: f.name, bytes: f.bytes instanceof Uint8Array ? f.bytes : new Uint8Array(f.bytes) };
    }),
  );
}
