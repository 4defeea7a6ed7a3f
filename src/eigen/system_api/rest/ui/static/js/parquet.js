// A minimal Parquet writer for the results download: one row group, one uncompressed
// PLAIN data page per column, required (non-null) columns of INT64, DOUBLE or UTF-8
// strings. The metadata is Thrift's compact protocol, as the format specifies
// (https://parquet.apache.org/docs/file-format/). Enough for a tidy table of counts and
// expectation values; not a general library.

const TYPES = { int64: 2, double: 5, string: 6 }; // parquet.thrift Type
const PLAIN = 0;
const RLE = 3;
const REQUIRED = 0;
const UTF8 = 0; // ConvertedType
const DATA_PAGE = 0;
const MAGIC = [0x50, 0x41, 0x52, 0x31]; // "PAR1"

// Thrift compact protocol field types
const T_I32 = 5;
const T_I64 = 6;
const T_BINARY = 8;
const T_LIST = 9;
const T_STRUCT = 12;

class Bytes {
  constructor() {
    this.parts = [];
    this.length = 0;
  }

  push(array) {
    const bytes = array instanceof Uint8Array ? array : Uint8Array.from(array);
    this.parts.push(bytes);
    this.length += bytes.length;
  }

  concat() {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

function varint(value) {
  let v = BigInt(value);
  const out = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

function zigzag(value, bits) {
  const v = BigInt(value);
  return (v << 1n) ^ (v >> BigInt(bits - 1));
}

/** A Thrift compact-protocol struct writer: fields must be written in increasing id order. */
class Struct {
  constructor(bytes) {
    this.bytes = bytes;
    this.last = 0;
  }

  header(id, type) {
    const delta = id - this.last;
    if (delta > 0 && delta <= 15) this.bytes.push([(delta << 4) | type]);
    else this.bytes.push([type, ...varint(zigzag(id, 16))]);
    this.last = id;
  }

  i32(id, value) {
    this.header(id, T_I32);
    this.bytes.push(varint(zigzag(value, 32)));
    return this;
  }

  i64(id, value) {
    this.header(id, T_I64);
    this.bytes.push(varint(zigzag(value, 64)));
    return this;
  }

  string(id, text) {
    this.header(id, T_BINARY);
    const encoded = new TextEncoder().encode(text);
    this.bytes.push(varint(encoded.length));
    this.bytes.push(encoded);
    return this;
  }

  struct(id, write) {
    this.header(id, T_STRUCT);
    const inner = new Struct(this.bytes);
    write(inner);
    inner.end();
    return this;
  }

  list(id, elementType, items, write) {
    this.header(id, T_LIST);
    if (items.length < 15) this.bytes.push([(items.length << 4) | elementType]);
    else this.bytes.push([0xf0 | elementType, ...varint(items.length)]);
    for (const item of items) write(item);
    return this;
  }

  end() {
    this.bytes.push([0]);
  }
}

function listI32(bytes, value) {
  bytes.push(varint(zigzag(value, 32)));
}

function listString(bytes, text) {
  const encoded = new TextEncoder().encode(text);
  bytes.push(varint(encoded.length));
  bytes.push(encoded);
}

function listStruct(bytes, write) {
  const inner = new Struct(bytes);
  write(inner);
  inner.end();
}

function plainValues(type, values) {
  const bytes = new Bytes();
  if (type === "string") {
    for (const value of values) {
      const encoded = new TextEncoder().encode(String(value));
      const length = new Uint8Array(4);
      new DataView(length.buffer).setUint32(0, encoded.length, true);
      bytes.push(length);
      bytes.push(encoded);
    }
  } else {
    const buffer = new Uint8Array(8 * values.length);
    const view = new DataView(buffer.buffer);
    values.forEach((value, i) => {
      if (type === "int64") view.setBigInt64(8 * i, BigInt(Math.trunc(value)), true);
      else view.setFloat64(8 * i, Number(value), true);
    });
    bytes.push(buffer);
  }
  return bytes.concat();
}

/**
 * Parquet bytes of `columns` ([{name, type: "int64" | "double" | "string", values}], all of
 * the same length).
 */
export function parquetOf(columns) {
  const rows = columns.length ? columns[0].values.length : 0;
  const file = new Bytes();
  file.push(MAGIC);
  const chunks = [];
  for (const column of columns) {
    const data = plainValues(column.type, column.values);
    const header = new Bytes();
    new Struct(header)
      .i32(1, DATA_PAGE)
      .i32(2, data.length)
      .i32(3, data.length)
      .struct(5, (page) => page.i32(1, rows).i32(2, PLAIN).i32(3, RLE).i32(4, RLE))
      .end();
    const offset = file.length;
    file.push(header.concat());
    file.push(data);
    chunks.push({ column, offset, size: header.length + data.length });
  }
  const footer = new Bytes();
  const meta = new Struct(footer);
  meta.i32(1, 1);
  meta.list(2, T_STRUCT, [null, ...columns], (column) => listStruct(footer, (element) => {
    if (column === null) {
      element.string(4, "schema").i32(5, columns.length);
      return;
    }
    element.i32(1, TYPES[column.type]).i32(3, REQUIRED).string(4, column.name);
    if (column.type === "string") element.i32(6, UTF8);
  }));
  meta.i64(3, rows);
  meta.list(4, T_STRUCT, [0], () => listStruct(footer, (group) => {
    group.list(1, T_STRUCT, chunks, (chunk) => listStruct(footer, (columnChunk) => {
      columnChunk.i64(2, chunk.offset).struct(3, (columnMeta) => {
        columnMeta.i32(1, TYPES[chunk.column.type]);
        columnMeta.list(2, T_I32, [PLAIN, RLE], (encoding) => listI32(footer, encoding));
        columnMeta.list(3, T_BINARY, [chunk.column.name], (name) => listString(footer, name));
        columnMeta.i32(4, 0).i64(5, rows).i64(6, chunk.size).i64(7, chunk.size).i64(9, chunk.offset);
      });
    }));
    group.i64(2, chunks.reduce((sum, chunk) => sum + chunk.size, 0)).i64(3, rows);
  }));
  meta.string(6, "eigen dashboard");
  meta.end();
  const footerBytes = footer.concat();
  file.push(footerBytes);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, footerBytes.length, true);
  file.push(length);
  file.push(MAGIC);
  return file.concat();
}
