/**
 * A GPU kernel's uniform struct from one field list. `defineParams([['total', 'u32'], ['alpha', 'f32'], ...])` gives
 * the WGSL `struct Params` text (prepended to the kernel's shader where its pipeline is built: the .wgsl files do
 * not declare Params) and a typed packer that takes the values by field name and writes them at the offsets of
 * WGSL's uniform layout. A missing or misspelt field is a type error; an extra one, a value of the wrong shape or
 * out of its type's range is an error naming the field when the program's pipelines are built.
 *
 * Types: u32, i32, f32 (4 bytes, aligned to 4); vec4u, vec4i, vec4f (16 bytes, aligned to 16); array<vec4x, N>
 * (16 N bytes, aligned to 16: uniform arrays need a 16-byte element stride, so arrays of scalars are refused).
 * The struct's size is its end rounded up to its largest alignment (WGSL's SizeOf).
 */

export type WgslScalarType = 'u32' | 'i32' | 'f32';
export type WgslVec4Type = 'vec4u' | 'vec4i' | 'vec4f';
export type WgslUniformType = WgslScalarType | WgslVec4Type | `array<${WgslVec4Type}, ${number}>`;

/** One field of a uniform struct: its WGSL name and type, in declaration order. */
export type UniformField = readonly [name: string, type: WgslUniformType];
export type UniformFields = readonly UniformField[];

/** A field's value: a number for a scalar; the components in order for a vector or an array of vectors. */
export type UniformValue<T extends WgslUniformType> = T extends WgslScalarType ? number : readonly number[];

/** The values of a field list, by name. */
export type UniformValues<F extends UniformFields> = { readonly [D in F[number] as D[0]]: UniformValue<D[1]> };

/** Where one field lies in the struct. */
export interface UniformSlot {
  readonly name: string;
  readonly type: WgslUniformType;
  /** Byte offset in the struct. */
  readonly offset: number;
  /** 32-bit words (1 for a scalar, 4 per vec4). */
  readonly words: number;
  readonly kind: 'u' | 'i' | 'f';
}

/** A uniform buffer's contents for one dispatch: `size` bytes laid out by `params`. */
export interface PackedUniforms {
  readonly params: UniformParams;
  readonly data: ArrayBuffer;
}

export interface UniformParams<F extends UniformFields = UniformFields> {
  readonly fields: F;
  readonly slots: readonly UniformSlot[];
  /** WGSL's SizeOf(Params) in bytes. */
  readonly size: number;
  /** The WGSL declaration `struct Params { ... }`. */
  readonly wgsl: string;
  pack(values: UniformValues<F>): PackedUniforms;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ARRAY = /^array<(vec4[uif]), ([1-9][0-9]*)>$/;

function slotOf(name: string, type: WgslUniformType): Omit<UniformSlot, 'offset'> & { align: number } {
  const scalar: Record<WgslScalarType, 'u' | 'i' | 'f'> = { u32: 'u', i32: 'i', f32: 'f' };
  if (type in scalar) return { name, type, words: 1, kind: scalar[type as WgslScalarType], align: 4 };
  const element = ARRAY.exec(type)?.[1] ?? type;
  const count = ARRAY.test(type) ? Number(ARRAY.exec(type)![2]) : 1;
  if (!/^vec4[uif]$/.test(element)) throw new Error(`uniform field "${name}": unsupported type "${type}" (u32, i32, f32, vec4u/i/f, array<vec4u/i/f, N>)`);
  return { name, type, words: 4 * count, kind: element.slice(4) as 'u' | 'i' | 'f', align: 16 };
}

/** The field list's struct text, layout and packer; throws on a duplicate or invalid name or an unsupported type. */
export function defineParams<const F extends UniformFields>(fields: F): UniformParams<F> {
  if (fields.length === 0) throw new Error('a uniform struct needs at least one field');
  const slots: UniformSlot[] = [];
  let end = 0;
  let align = 4;
  for (const [name, type] of fields) {
    if (!IDENTIFIER.test(name)) throw new Error(`uniform field "${name}": not a WGSL identifier`);
    if (slots.some((s) => s.name === name)) throw new Error(`uniform field "${name}" is declared twice`);
    const { align: a, ...slot } = slotOf(name, type);
    const offset = Math.ceil(end / a) * a;
    slots.push({ ...slot, offset });
    end = offset + 4 * slot.words;
    align = Math.max(align, a);
  }
  const size = Math.ceil(end / align) * align;
  const wgsl = `// Params: generated from the kernel spec's uniform field list (src/engine/kernels/uniforms.ts).\nstruct Params {\n${fields.map(([n, t]) => `  ${n}: ${t},\n`).join('')}}\n`;
  const params: UniformParams<F> = {
    fields,
    slots,
    size,
    wgsl,
    pack(values) {
      const given = values as Readonly<Record<string, number | readonly number[]>>;
      for (const name of Object.keys(given)) {
        if (!slots.some((s) => s.name === name)) throw new Error(`uniform value "${name}" is not a field of Params (${slots.map((s) => s.name).join(', ')})`);
      }
      const data = new ArrayBuffer(size);
      const view = new DataView(data);
      for (const slot of slots) {
        const value = given[slot.name];
        if (value === undefined) throw new Error(`uniform field "${slot.name}" has no value`);
        const words = typeof value === 'number' ? [value] : value;
        if (typeof value === 'number' ? slot.words !== 1 : slot.words === 1 || words.length !== slot.words) {
          throw new Error(`uniform field "${slot.name}" (${slot.type}) takes ${slot.words === 1 ? 'a number' : `${slot.words} numbers`}, got ${typeof value === 'number' ? 'a number' : `${words.length}`}`);
        }
        words.forEach((v, k) => {
          const at = slot.offset + 4 * k;
          if (slot.kind === 'f') return view.setFloat32(at, v, true);
          const [lo, hi] = slot.kind === 'u' ? [0, 2 ** 32] : [-(2 ** 31), 2 ** 31];
          if (!Number.isInteger(v) || v < lo || v >= hi) throw new Error(`uniform field "${slot.name}" (${slot.type}): ${v} is not a ${slot.kind === 'u' ? 'u32' : 'i32'}`);
          if (slot.kind === 'u') view.setUint32(at, v, true);
          else view.setInt32(at, v, true);
        });
      }
      return { params: params as UniformParams, data };
    },
  };
  return params;
}

/** The WGSL a kernel's pipeline is built from: the generated Params struct, then the shader. */
export function shaderSource(spec: { readonly shader: string; readonly params: UniformParams }): string {
  return `${spec.params.wgsl}\n${spec.shader}`;
}

/**
 * A step's uniforms through its spec, checked against the spec's own field list (a spec that packs another
 * struct's values is refused), as bytes of the struct's size.
 */
export function packUniforms<S>(spec: { readonly params: UniformParams; uniforms(step: S): PackedUniforms }, step: S, what: string): ArrayBuffer {
  const packed = spec.uniforms(step);
  if (packed.params !== spec.params) throw new Error(`${what}: the uniforms are packed with another field list than the spec's Params`);
  return packed.data;
}
