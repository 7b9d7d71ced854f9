// The object metadata of a body in application/vnd.kubernetes.protobuf, which kubectl's typed
// clients send (create secret|configmap|namespace, auth can-i): the "k8s\0" magic, the
// runtime.Unknown envelope (1 typeMeta {1 apiVersion, 2 kind}, 2 raw), and in raw the object,
// whose field 1 is its ObjectMeta (1 name, 3 namespace) in every kind that has metadata. Only
// what the namespace check needs is read; a field that protobuf would merge or overwrite (given
// twice) is refused, so the gateway and the server cannot read two different namespaces.

export type ProtobufMeta = { readonly ok: true; readonly kind?: string; readonly namespace?: string; readonly name?: string; readonly raw: Uint8Array } | { readonly ok: false; readonly reason: string };

const MAGIC = [0x6b, 0x38, 0x73, 0x00];

interface Field {
  readonly no: number;
  readonly wire: number;
  readonly bytes?: Uint8Array;
}

/** The top-level fields of one message; null when the bytes are not protobuf. */
export function protobufFields(buf: Uint8Array): Field[] | null {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): number | null => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) return null;
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    return null;
  };
  while (pos < buf.length) {
    const key = varint();
    if (key === null) return null;
    const no = Math.floor(key / 8);
    const wire = key % 8;
    if (no === 0) return null;
    if (wire === 0) {
      if (varint() === null) return null;
      out.push({ no, wire });
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      if (pos > buf.length) return null;
      out.push({ no, wire });
    } else if (wire === 2) {
      const len = varint();
      if (len === null || pos + len > buf.length) return null;
      out.push({ no, wire, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else return null;
  }
  return out;
}

function once(fields: Field[], no: number): Field | undefined | "twice" {
  const f = fields.filter((x) => x.no === no);
  return f.length > 1 ? "twice" : f[0];
}

function str(f: Field | undefined): string | undefined {
  return f?.bytes !== undefined ? new TextDecoder().decode(f.bytes) : undefined;
}

export function readProtobufMeta(body: Uint8Array): ProtobufMeta {
  if (body.length < 4 || MAGIC.some((b, i) => body[i] !== b)) return { ok: false, reason: 'a protobuf body must start with the "k8s\\0" magic' };
  const envelope = protobufFields(body.subarray(4));
  if (envelope === null) return { ok: false, reason: "the protobuf body cannot be read" };
  const typeMeta = once(envelope, 1);
  const raw = once(envelope, 2);
  const encoding = once(envelope, 3);
  if (typeMeta === "twice" || raw === "twice" || encoding === "twice") return { ok: false, reason: "the protobuf envelope gives a field twice" };
  if (encoding?.bytes !== undefined && encoding.bytes.length > 0) return { ok: false, reason: "a content-encoded protobuf body is not read" };
  let kind: string | undefined;
  if (typeMeta?.bytes !== undefined) {
    const tm = protobufFields(typeMeta.bytes);
    if (tm === null) return { ok: false, reason: "the protobuf typeMeta cannot be read" };
    const k = once(tm, 2);
    if (k === "twice") return { ok: false, reason: "the protobuf typeMeta gives kind twice" };
    kind = str(k);
  }
  // A typed client always names the kind and sends the object: anything less is not read.
  if (kind === undefined || kind === "") return { ok: false, reason: "the protobuf envelope names no kind" };
  if (raw?.bytes === undefined || raw.bytes.length === 0) return { ok: false, reason: "the protobuf envelope holds no object" };
  const rawBytes = raw.bytes;
  const obj = protobufFields(rawBytes);
  if (obj === null) return { ok: false, reason: "the protobuf object cannot be read" };
  const meta = once(obj, 1);
  if (meta === "twice") return { ok: false, reason: "the protobuf object gives its metadata twice" };
  if (meta === undefined || meta.wire !== 2) return { ok: true, raw: rawBytes, ...(kind !== undefined ? { kind } : {}) };
  const m = protobufFields(meta.bytes!);
  if (m === null) return { ok: false, reason: "the protobuf object metadata cannot be read" };
  const name = once(m, 1);
  const namespace = once(m, 3);
  if (name === "twice" || namespace === "twice") return { ok: false, reason: "the protobuf metadata gives name or namespace twice" };
  const n = str(name);
  const ns = str(namespace);
  return { ok: true, raw: rawBytes, ...(kind !== undefined ? { kind } : {}), ...(n !== undefined ? { name: n } : {}), ...(ns !== undefined ? { namespace: ns } : {}) };
}
