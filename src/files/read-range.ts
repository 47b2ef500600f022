/**
 * Bounded reads of a file another process is still writing (a capture, a log): never the whole
 * backlog in one buffer, at most `maxBytes` per read, the caller loops.
 */
import { open, type FileHandle } from "node:fs/promises";

/** the most one read of a growing file hands back */
export const READ_CHUNK_BYTES = 4 * 1024 * 1024;

export interface RangeRead {
  /** the bytes read (at most maxBytes) */
  data: Buffer;
  /** where they start: `pos`, or 0 when the file became shorter than `pos` (recreated) */
  from: number;
  /** the file's size when read (0: it does not exist yet) */
  size: number;
}

/**
 * Read at most `maxBytes` of `file` from `pos` (nothing when it does not exist yet; from 0 when it is
 * shorter than `pos`). With `into`, the bytes are read into it (at most its length) and `data` is a
 * view of it: a caller polling a growing file reuses one buffer instead of a new one per read.
 */
export async function readRange(
  file: string,
  pos: number,
  maxBytes = READ_CHUNK_BYTES,
  into?: Buffer,
): Promise<RangeRead> {
  let fh;
  try {
    fh = await open(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { data: Buffer.alloc(0), from: pos, size: 0 };
    throw e;
  }
  try {
    const { size } = await fh.stat();
    const from = size < pos ? 0 : pos;
    const want = Math.min(size - from, maxBytes, into?.length ?? Infinity);
    if (want <= 0) return { data: Buffer.alloc(0), from, size };
    return { data: await readSpan(fh, from, want, into), from, size };
  } finally {
    await fh.close();
  }
}

/**
 * `length` bytes of an open file from `from` (fewer when it ends first), read until they are all there;
 * into the start of `into` when given (at least `length` bytes long).
 */
export async function readSpan(fh: FileHandle, from: number, length: number, into?: Buffer): Promise<Buffer> {
  if (length <= 0) return Buffer.alloc(0);
  const buf = into ?? Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, from + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** Each chunk (at most `maxBytes`) of `file` from `pos` to the end it had when each chunk was read. */
export async function* chunksOf(file: string, pos = 0, maxBytes = READ_CHUNK_BYTES): AsyncGenerator<Buffer> {
  for (;;) {
    const r = await readRange(file, pos, maxBytes);
    if (r.data.length === 0) return;
    pos = r.from + r.data.length;
    yield r.data;
  }
}
