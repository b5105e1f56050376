/**
 * The house rule "the WGSL uniform struct and its TypeScript packing come from one field list"
 * (src/engine/kernels/uniforms.ts): for every kernel and GPU variant of kernels/registry.ts, the shader source its
 * pipeline is built from declares `struct Params` exactly once, with exactly the spec's fields in order, uses no
 * field the list lacks, and the packer writes the struct's size with each value at the offset WGSL's uniform layout
 * gives it (computed here independently from the parsed struct text). Then the packer's and defineParams' errors.
 */
import { describe, expect, it } from 'vitest';
import type { GpuKernelSpec } from '../../src/engine/kernels/kernel';
import { kernels } from '../../src/engine/kernels/registry';
import type { Step } from '../../src/engine/kernels/steps';
import { defineParams, shaderSource, type UniformFields, type UniformParams } from '../../src/engine/kernels/uniforms';

/** The WebGPU backend's uniform slot per step (src/engine/gpu/gpu-backend.ts). */
const UNIFORM_SLOT = 256;

const specs: [string, GpuKernelSpec<Step>][] = Object.entries(kernels).flatMap(([kind, def]) => [
  [kind, def.gpu as GpuKernelSpec<Step>] as [string, GpuKernelSpec<Step>],
  ...Object.entries(def.variants ?? {}).map(([v, spec]) => [`${kind} (${v})`, spec as GpuKernelSpec<Step>] as [string, GpuKernelSpec<Step>]),
]);

/** WGSL source without comments. */
const stripComments = (src: string): string => src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');

/** The members of `struct Params { ... }` in a source that declares it once: [name, type] in order. */
function parseParams(src: string): [string, string][] {
  const code = stripComments(src);
  const decls = code.match(/\bstruct\s+Params\b/g) ?? [];
  expect(decls.length, 'struct Params declarations').toBe(1);
  const body = /\bstruct\s+Params\s*\{([\s\S]*?)\}/.exec(code)![1]!;
  // Split at top-level commas (types such as array<vec4u, 2> hold commas of their own).
  const members: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of body) {
    if (ch === '<') depth++;
    if (ch === '>') depth--;
    if (ch === ',' && depth === 0) {
      members.push(cur);
      cur = '';
    } else cur += ch;
  }
  members.push(cur);
  return members
    .map((m) => m.trim())
    .filter((m) => m.length > 0)
    .map((m) => {
      const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.+)$/s.exec(m);
      expect(match, `member "${m}"`).not.toBeNull();
      return [match![1]!, match![2]!.replace(/\s+/g, ' ').trim()];
    });
}

interface Layout {
  readonly align: number;
  readonly size: number;
}

/** AlignOf and SizeOf of a WGSL type in the uniform address space (WGSL spec, "Memory Layout"). */
function layoutOf(type: string): Layout {
  if (/^(u32|i32|f32)$/.test(type)) return { align: 4, size: 4 };
  const shorthand = /^vec([234])[uif]$/.exec(type);
  const vec = shorthand ?? /^vec([234])<(u32|i32|f32)>$/.exec(type);
  if (vec) {
    const n = Number(vec[1]);
    return { align: n === 2 ? 8 : 16, size: 4 * n };
  }
  const arr = /^array<(.+), *([0-9]+)>$/.exec(type);
  if (arr) {
    const element = layoutOf(arr[1]!);
    const stride = Math.ceil(element.size / element.align) * element.align;
    // Uniform buffers: an array's element stride must be a multiple of 16, and the array is aligned to 16.
    expect(stride % 16, `stride of ${type} in a uniform buffer`).toBe(0);
    return { align: Math.ceil(Math.max(element.align, 16) / 16) * 16, size: stride * Number(arr[2]) };
  }
  throw new Error(`no layout for WGSL type ${type}`);
}

/** Each member's offset, and the struct's size (its end rounded up to its largest member alignment). */
function structLayout(members: readonly (readonly [string, string])[]): { offsets: number[]; size: number } {
  let end = 0;
  let align = 1;
  const offsets = members.map(([, type]) => {
    const l = layoutOf(type);
    const offset = Math.ceil(end / l.align) * l.align;
    end = offset + l.size;
    align = Math.max(align, l.align);
    return offset;
  });
  return { offsets, size: Math.ceil(end / align) * align };
}

/** Distinct values for every field (words counted from 1 up), by name, so their placement can be read back. */
function sampleValues(params: UniformParams): Record<string, number | number[]> {
  let next = 1;
  const values: Record<string, number | number[]> = {};
  for (const slot of params.slots) {
    const words = Array.from({ length: slot.words }, () => next++);
    values[slot.name] = slot.words === 1 ? words[0]! : words;
  }
  return values;
}

describe('every GPU kernel spec: struct Params from its field list', () => {
  it('covers every kernel of the registry and its variants', () => {
    expect(specs.length).toBeGreaterThanOrEqual(Object.keys(kernels).length + 4);
  });

  for (const [name, spec] of specs) {
    it(`${name}: the shader source declares exactly the spec's fields, in order, at WGSL's offsets`, () => {
      // The .wgsl itself declares no Params: the struct comes only from the list.
      expect(stripComments(spec.shader)).not.toMatch(/\bstruct\s+Params\b/);
      const source = shaderSource(spec);
      const members = parseParams(source);
      expect(members).toEqual(spec.params.fields.map(([n, t]) => [n, t]));

      // The shader reads no field outside the list (its compiler would say so too, but only on a GPU).
      const used = new Set([...stripComments(source).matchAll(/\bp\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
      const declared = new Set(members.map(([n]) => n));
      expect([...used].filter((f) => !declared.has(f)), 'fields read but not declared').toEqual([]);

      // The packer's layout agrees with WGSL's, and fits the backend's uniform slot.
      const { offsets, size } = structLayout(members);
      expect(spec.params.size).toBe(size);
      expect(spec.params.slots.map((s) => s.offset)).toEqual(offsets);
      expect(size).toBeLessThanOrEqual(UNIFORM_SLOT);

      // Packed bytes: the struct's size, every value at its offset, padding 0.
      const values = sampleValues(spec.params);
      const data = spec.params.pack(values as never).data;
      expect(data.byteLength).toBe(size);
      const view = new DataView(data);
      const expected = new Uint32Array(size / 4);
      spec.params.slots.forEach((slot, i) => {
        const words = ([] as number[]).concat(values[slot.name]!);
        words.forEach((v, k) => {
          const at = offsets[i]! + 4 * k;
          const got = slot.kind === 'f' ? view.getFloat32(at, true) : slot.kind === 'i' ? view.getInt32(at, true) : view.getUint32(at, true);
          expect(got, `${slot.name}[${k}]`).toBe(v);
          expected[at / 4] = 1;
        });
      });
      for (let w = 0; w < size / 4; w++) if (!expected[w]) expect(view.getUint32(4 * w, true), `padding word ${w}`).toBe(0);
    });
  }
});

describe('defineParams and pack', () => {
  const fields = [['total', 'u32'], ['scale', 'f32'], ['dims', 'array<vec4u, 2>'], ['offset', 'i32'], ['corner', 'vec4i']] as const satisfies UniformFields;
  const params = defineParams(fields);
  const good = { total: 6, scale: 0.5, dims: [1, 2, 3, 4, 5, 6, 0, 0], offset: -3, corner: [1, -1, 2, -2] };

  it('generates the struct and lays out arrays and vectors at 16 bytes', () => {
    expect(params.wgsl).toContain('struct Params {\n  total: u32,\n  scale: f32,\n  dims: array<vec4u, 2>,\n  offset: i32,\n  corner: vec4i,\n}');
    expect(params.slots.map((s) => s.offset)).toEqual([0, 4, 16, 48, 64]);
    expect(params.size).toBe(80);
    const view = new DataView(params.pack(good).data);
    expect([view.getUint32(0, true), view.getFloat32(4, true), view.getUint32(16 + 4 * 5, true), view.getInt32(48, true), view.getInt32(64 + 12, true)]).toEqual([6, 0.5, 6, -3, -2]);
  });

  it('refuses an extra, a missing or a misshapen value, and a value outside its integer type, naming the field', () => {
    expect(() => params.pack({ ...good, extra: 1 } as never)).toThrow(/"extra" is not a field of Params/);
    const { scale: _scale, ...missing } = good;
    expect(() => params.pack(missing as never)).toThrow(/"scale" has no value/);
    expect(() => params.pack({ ...good, dims: [1, 2, 3, 4, 5, 6] })).toThrow(/"dims" \(array<vec4u, 2>\) takes 8 numbers, got 6/);
    expect(() => params.pack({ ...good, total: [1] } as never)).toThrow(/"total" \(u32\) takes a number/);
    expect(() => params.pack({ ...good, total: -1 })).toThrow(/"total" \(u32\): -1 is not a u32/);
    expect(() => params.pack({ ...good, total: 1.5 })).toThrow(/"total" \(u32\): 1.5 is not a u32/);
    expect(() => params.pack({ ...good, offset: 2 ** 31 })).toThrow(/"offset" \(i32\)/);
  });

  it('refuses duplicate names, non-identifiers and array types a uniform buffer cannot hold', () => {
    expect(() => defineParams([['a', 'u32'], ['a', 'f32']])).toThrow(/"a" is declared twice/);
    expect(() => defineParams([['not-a-name', 'u32']])).toThrow(/not a WGSL identifier/);
    expect(() => defineParams([['a', 'array<u32, 4>' as never]])).toThrow(/unsupported type/);
    expect(() => defineParams([])).toThrow(/at least one field/);
  });
});
