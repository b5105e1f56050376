// AssemblyScript source of the fast CPU backend's convolution data movement (compiled with ./gemm.ts, which
// re-exports it): im2col before a convolution's GEMM, its bias after it, and col2im after its transposed GEMM, on
// byte addresses in the caller's linear memory. A convolution of C channels of H x W into OH x OW outputs, kernel KH x KW, stride SH, SW,
// dilation DH, DW, top and left padding PT, PL; a tap falls on input row oy * SH + ky * DH - PT, column
// ox * SW + kx * DW - PL. Rows of stride-1 convolutions move as whole runs (memory.copy, f32x4 adds); the sums are
// float32 adds in the same order as the JavaScript loops they replace, so results are unchanged.

/** First output index whose tap at `offset` (= k * dilation - pad) lands inside [0, size). */
function firstValid(offset: i32, stride: i32): i32 {
  // ceil(-offset / stride), at least 0
  return offset >= 0 ? 0 : (-offset + stride - 1) / stride;
}

/** Last output index (at most out - 1) whose tap at `offset` lands inside [0, size); first - 1 when none. */
function lastValid(offset: i32, stride: i32, size: i32, out: i32): i32 {
  const room = size - 1 - offset;
  if (room < 0) return -1;
  return min(out - 1, room / stride);
}

// Both directions walk the columns matrix in the same order: row ((ci * KH + ky) * KW + kx), then oy, then ox.
// im2col (toColumns): cols[row][oy * OW + ox] = planes[ci][tap], 0 where the tap is in the padding.
// col2im (!toColumns): planes[ci][tap] += cols[row][oy * OW + ox] over every tap inside the input (the transpose).
function walk(planes: usize, c: i32, h: i32, w: i32, oh: i32, ow: i32, kh: i32, kw: i32, sh: i32, sw: i32, dh: i32, dw: i32, pt: i32, pl: i32, cols: usize, toColumns: bool): void {
  const plane = <usize>(oh * ow) << 2;
  const rowBytes = <usize>ow << 2;
  let d = cols;
  for (let ci = 0; ci < c; ci++) {
    const xPlane = planes + ((<usize>ci * <usize>(h * w)) << 2);
    for (let ky = 0; ky < kh; ky++) {
      const offY = ky * dh - pt;
      const oy0 = firstValid(offY, sh);
      const oy1 = lastValid(offY, sh, h, oh);
      for (let kx = 0; kx < kw; kx++) {
        const offX = kx * dw - pl;
        const ox0 = firstValid(offX, sw);
        const ox1 = lastValid(offX, sw, w, ow);
        const run = ox1 - ox0 + 1;
        if (toColumns) {
          if (run <= 0 || oy0 > oy1) {
            memory.fill(d, 0, plane);
            d += plane;
            continue;
          }
          if (oy0 > 0) memory.fill(d, 0, <usize>oy0 * rowBytes);
          if (oy1 < oh - 1) memory.fill(d + <usize>(oy1 + 1) * rowBytes, 0, <usize>(oh - 1 - oy1) * rowBytes);
        }
        for (let oy = oy0; oy <= oy1 && run > 0; oy++) {
          const row = d + <usize>oy * rowBytes;
          const x = xPlane + ((<usize>((oy * sh + offY) * w + ox0 * sw + offX)) << 2);
          if (toColumns) toRow(row, x, ox0, ox1, ow, sw, run);
          else fromRow(row + (<usize>ox0 << 2), x, sw, run);
        }
        d += plane;
      }
    }
  }
}

/** One columns row from the input row at x: zeros, the run of taps (strided by sw), zeros. */
function toRow(row: usize, x: usize, ox0: i32, ox1: i32, ow: i32, sw: i32, run: i32): void {
  if (ox0 > 0) memory.fill(row, 0, <usize>ox0 << 2);
  if (sw == 1) memory.copy(row + (<usize>ox0 << 2), x, <usize>run << 2);
  else for (let j = 0; j < run; j++) store<f32>(row + (<usize>(ox0 + j) << 2), load<f32>(x + (<usize>(j * sw) << 2)));
  if (ox1 < ow - 1) memory.fill(row + (<usize>(ox1 + 1) << 2), 0, <usize>(ow - 1 - ox1) << 2);
}

/** The input row at x += a run of a columns row (strided by sw): f32x4 adds where contiguous. */
function fromRow(from: usize, x: usize, sw: i32, run: i32): void {
  if (sw == 1) {
    let j = 0;
    for (; j + 4 <= run; j += 4) {
      const at = <usize>j << 2;
      v128.store(x + at, f32x4.add(v128.load(x + at), v128.load(from + at)));
    }
    for (; j < run; j++) {
      const at = <usize>j << 2;
      store<f32>(x + at, load<f32>(x + at) + load<f32>(from + at));
    }
  } else {
    for (let j = 0; j < run; j++) {
      const t = x + (<usize>(j * sw) << 2);
      store<f32>(t, load<f32>(t) + load<f32>(from + (<usize>j << 2)));
    }
  }
}

export function im2col(x: usize, c: i32, h: i32, w: i32, oh: i32, ow: i32, kh: i32, kw: i32, sh: i32, sw: i32, dh: i32, dw: i32, pt: i32, pl: i32, dst: usize): void {
  walk(x, c, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, dst, true);
}

export function col2im(src: usize, c: i32, h: i32, w: i32, oh: i32, ow: i32, kh: i32, kw: i32, sh: i32, sw: i32, dh: i32, dw: i32, pt: i32, pl: i32, acc: usize): void {
  walk(acc, c, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, src, false);
}

// c[r * cols + j] += bias[r] for r < rows, j < cols: a convolution's bias on its GEMM output (rows = channels).
export function addBias(c: usize, rows: i32, cols: i32, bias: usize): void {
  let p = c;
  for (let r = 0; r < rows; r++) {
    const b = load<f32>(bias + (<usize>r << 2));
    const bv = f32x4.splat(b);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      v128.store(p, f32x4.add(v128.load(p), bv));
      p += 16;
    }
    for (; j < cols; j++) {
      store<f32>(p, load<f32>(p) + b);
      p += 4;
    }
  }
}
