/**
 * NumPy .npz reading: a zip archive (stored or deflated) of .npy files, as written by numpy.savez(_compressed).
 * Keys are the member names without the ".npy" suffix (numpy's own convention).
 */
import { unzipSync } from 'fflate';
import { NpyError, parseNpy, type NpyArray } from './npy';

export function parseNpz(bytes: Uint8Array): Map<string, NpyArray> {
  if (!(bytes instanceof Uint8Array)) throw new NpyError('expected the bytes of a .npz file');
  // A zip starts with a local file header (PK\x03\x04), or is an empty archive (PK\x05\x06).
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) throw new NpyError('not a .npz file (not a zip archive)');
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new NpyError(`malformed .npz file: ${(e as Error).message}`);
  }
  const out = new Map<string, NpyArray>();
  for (const [name, data] of Object.entries(files)) {
    if (name.endsWith('/')) continue; // directory entry
    const key = name.endsWith('.npy') ? name.slice(0, -4) : name;
    try {
      out.set(key, parseNpy(data));
    } catch (e) {
      throw new NpyError(`.npz member "${name}": ${(e as Error).message}`);
    }
  }
  return out;
}
