/**
 * Share links: a ShareState in the URL fragment (after '#', which browsers never send to a server).
 *
 *   #s<version>.<base64url(deflate(payload))>     (version 1; 2 for a state with a comparison; 3 with a concept; 4 with custom rules)
 *   payload = [u32 little-endian: JSON length][JSON of the state without pixels][image rows, PNG-style filtered]
 *
 * The image travels at the model's input resolution as RGB bytes; each row is stored as its difference from the
 * Paeth prediction (as PNG does), which makes photos compress about a third better under deflate. Decoding checks
 * the prefix, the alphabet and the length before decoding, stops inflating past SHARE_LIMITS.inflatedBytes, and
 * validates every field (share-state.ts): a link yields a state or a ShareLinkError, never an exception of another
 * kind.
 */
import { deflateSync, Inflate } from 'fflate';
import { SHARE_LIMITS, SHARE_VERSION, ShareLinkError, linkVersion, validateShareState, type ShareState } from './share-state';

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Replaces each byte by its difference (mod 256) from the Paeth prediction of its left, upper and upper-left. */
export function filterRows(rgb: Uint8Array, width: number, height: number, inverse: boolean): Uint8Array {
  const out = new Uint8Array(rgb.length);
  const stride = width * 3;
  const src = inverse ? out : rgb; // predictions use reconstructed bytes when decoding
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < stride; x++) {
      const i = y * stride + x;
      const a = x >= 3 ? src[i - 3]! : 0;
      const b = y > 0 ? src[i - stride]! : 0;
      const c = x >= 3 && y > 0 ? src[i - stride - 3]! : 0;
      out[i] = inverse ? (rgb[i]! + paeth(a, b, c)) & 255 : (rgb[i]! - paeth(a, b, c)) & 255;
    }
  }
  return out;
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(s: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new ShareLinkError('the link is damaged: it has characters a share link never contains');
  if (s.length % 4 === 1) throw new ShareLinkError('the link is truncated');
  const binary = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Inflates, refusing to produce more than `limit` bytes (a small link must not expand into gigabytes). */
function boundedInflate(data: Uint8Array, limit: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let ended = false;
  const inflater = new Inflate((chunk, final) => {
    total += chunk.length;
    if (total > limit) throw new ShareLinkError(`the link expands beyond ${limit} bytes`);
    chunks.push(chunk);
    if (final) ended = true;
  });
  try {
    inflater.push(data, true);
  } catch (e) {
    if (e instanceof ShareLinkError) throw e;
    throw new ShareLinkError('the link is damaged: its data does not decompress');
  }
  if (!ended) throw new ShareLinkError('the link is truncated');
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The fragment (without '#') for a state. */
export function encodeShareState(state: ShareState): string {
  const { image, ...rest } = state;
  const version = linkVersion(state);
  const json = JSON.stringify({ ...rest, version, image: image.kind === 'sample' ? image : { kind: 'pixels', width: image.width, height: image.height } });
  const jsonBytes = new TextEncoder().encode(json);
  const pixels = image.kind === 'pixels' ? filterRows(image.rgb, image.width, image.height, false) : new Uint8Array(0);
  const payload = new Uint8Array(4 + jsonBytes.length + pixels.length);
  new DataView(payload.buffer).setUint32(0, jsonBytes.length, true);
  payload.set(jsonBytes, 4);
  payload.set(pixels, 4 + jsonBytes.length);
  return `s${version}.${toBase64Url(deflateSync(payload, { level: 9 }))}`;
}

/** Decodes a fragment (with or without '#', or a whole URL). Throws ShareLinkError for anything but a valid link. */
export function decodeShareState(link: string): ShareState {
  try {
    const hash = link.includes('#') ? link.slice(link.indexOf('#') + 1) : link;
    if (!hash.startsWith('s')) throw new ShareLinkError('this is not an LRP Lens share link');
    const dot = hash.indexOf('.');
    const version = Number(hash.slice(1, dot));
    if (dot < 0 || !Number.isInteger(version)) throw new ShareLinkError('this is not an LRP Lens share link');
    if (version > SHARE_VERSION) throw new ShareLinkError(`this link was made by a newer LRP Lens (link version ${version}; this one reads versions 1 to ${SHARE_VERSION})`);
    if (version < 1 || !hash.startsWith(`s${version}.`)) throw new ShareLinkError('this is not an LRP Lens share link');
    const body = hash.slice(dot + 1);
    if (body.length > SHARE_LIMITS.payloadChars) throw new ShareLinkError(`the link is longer than ${SHARE_LIMITS.payloadChars} characters`);
    const payload = boundedInflate(fromBase64Url(body), SHARE_LIMITS.inflatedBytes);
    if (payload.length < 4) throw new ShareLinkError('the link is truncated');
    const jsonLength = new DataView(payload.buffer, payload.byteOffset).getUint32(0, true);
    if (jsonLength > payload.length - 4) throw new ShareLinkError('the link is truncated');
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload.subarray(4, 4 + jsonLength)));
    } catch {
      throw new ShareLinkError('the link is damaged: its settings are not readable');
    }
    const rest = payload.subarray(4 + jsonLength);
    const image = (parsed as { image?: { kind?: unknown; width?: unknown; height?: unknown } } | null)?.image;
    let rgb: Uint8Array | null = null;
    if (image?.kind === 'pixels') {
      const { width, height } = image;
      const ok = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= SHARE_LIMITS.imageSide;
      if (ok(width) && ok(height) && rest.length === (width as number) * (height as number) * 3) {
        rgb = filterRows(rest, width as number, height as number, true);
      }
    } else if (rest.length) throw new ShareLinkError('the link is damaged: it carries pixels it does not describe');
    const state = validateShareState(parsed, rgb);
    if (state.version !== version) throw new ShareLinkError(`the link is damaged: its prefix says version ${version}, its settings version ${state.version}`);
    return state;
  } catch (e) {
    if (e instanceof ShareLinkError) throw e;
    throw new ShareLinkError(`the link is damaged (${e instanceof Error ? e.message.slice(0, 80) : 'unreadable'})`);
  }
}
