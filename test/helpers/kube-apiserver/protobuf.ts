// Request bodies in application/vnd.kubernetes.protobuf, which kubectl's typed clients send
// (`kubectl auth can-i` posts a SelfSubjectAccessReview this way, `kubectl create configmap|
// secret|namespace` their objects): the "k8s\0" + runtime.Unknown envelope, then the object
// decoded by a field table of the generated.proto messages for those kinds. Answers stay JSON
// (those clients accept it). Any other kind gets 415, as a server without its codec would say.
import { errors } from "./status.ts";
import type { KubeObject } from "./store.ts";

export const PROTOBUF = "application/vnd.kubernetes.protobuf";
const MAGIC = [0x6b, 0x38, 0x73, 0x00];

type FieldType = "string" | "bytes" | "bool" | "int" | "time" | "map:string" | "map:bytes" | `msg:${string}` | `list:string` | `list:msg:${string}`;

/** Field number → JSON name and type, per message (from k8s.io/api and apimachinery generated.proto). */
const MESSAGES: Record<string, Record<number, [string, FieldType]>> = {
  TypeMeta: { 1: ["apiVersion", "string"], 2: ["kind", "string"] },
  Unknown: { 1: ["typeMeta", "msg:TypeMeta"], 2: ["raw", "bytes"], 3: ["contentEncoding", "string"], 4: ["contentType", "string"] },
  ObjectMeta: {
    1: ["name", "string"],
    2: ["generateName", "string"],
    3: ["namespace", "string"],
    5: ["uid", "string"],
    6: ["resourceVersion", "string"],
    7: ["generation", "int"],
    8: ["creationTimestamp", "time"],
    11: ["labels", "map:string"],
    12: ["annotations", "map:string"],
    14: ["finalizers", "list:string"],
  },
  SelfSubjectAccessReview: { 1: ["metadata", "msg:ObjectMeta"], 2: ["spec", "msg:SelfSubjectAccessReviewSpec"] },
  SelfSubjectAccessReviewSpec: { 1: ["resourceAttributes", "msg:ResourceAttributes"], 2: ["nonResourceAttributes", "msg:NonResourceAttributes"] },
  ResourceAttributes: {
    1: ["namespace", "string"],
    2: ["verb", "string"],
    3: ["group", "string"],
    4: ["version", "string"],
    5: ["resource", "string"],
    6: ["subresource", "string"],
    7: ["name", "string"],
  },
  SelfSubjectRulesReview: { 1: ["metadata", "msg:ObjectMeta"], 2: ["spec", "msg:SelfSubjectRulesReviewSpec"] },
  SelfSubjectRulesReviewSpec: { 1: ["namespace", "string"] },
  NonResourceAttributes: { 1: ["path", "string"], 2: ["verb", "string"] },
  ConfigMap: { 1: ["metadata", "msg:ObjectMeta"], 2: ["data", "map:string"], 3: ["binaryData", "map:bytes"], 4: ["immutable", "bool"] },
  Secret: { 1: ["metadata", "msg:ObjectMeta"], 2: ["data", "map:bytes"], 3: ["type", "string"], 4: ["stringData", "map:string"], 5: ["immutable", "bool"] },
  Namespace: { 1: ["metadata", "msg:ObjectMeta"], 2: ["spec", "msg:NamespaceSpec"] },
  NamespaceSpec: { 1: ["finalizers", "list:string"] },
  DeleteOptions: { 1: ["gracePeriodSeconds", "int"], 2: ["preconditions", "msg:Preconditions"], 3: ["orphanDependents", "bool"], 4: ["propagationPolicy", "string"], 5: ["dryRun", "list:string"] },
  Preconditions: { 1: ["uid", "string"], 2: ["resourceVersion", "string"] },
};

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error("truncated varint");
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error("varint too long");
    }
  }
  bytes(): Uint8Array {
    const n = Number(this.varint());
    if (this.pos + n > this.buf.length) throw new Error("truncated length-delimited field");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

const text = new TextDecoder("utf-8", { fatal: true });

function decodeMessage(buf: Uint8Array, name: string): KubeObject {
  const fields = MESSAGES[name];
  if (!fields) throw new Error(`no protobuf table for ${name}`);
  const out: KubeObject = {};
  const r = new Reader(buf);
  while (!r.done) {
    const tag = Number(r.varint());
    const num = tag >> 3;
    const wire = tag & 7;
    const f = fields[num];
    if (!f) {
      r.skip(wire);
      continue;
    }
    const [key, type] = f;
    // Go's generated marshallers write zero values ("" , 0, false, a zero time) that its JSON
    // encoding omits (omitempty); they are dropped so the object reads as the JSON client's would.
    if (type === "int" || type === "bool") {
      const v = r.varint();
      if (v !== 0n) out[key] = type === "bool" ? true : Number(BigInt.asIntN(64, v));
      continue;
    }
    const raw = r.bytes();
    if (type === "string") {
      if (raw.length) out[key] = text.decode(raw);
    } else if (type === "bytes") out[key] = Buffer.from(raw).toString("base64");
    else if (type === "time") {
      const t = decodeTime(raw);
      if (t !== 0) out[key] = new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
    } else if (type === "map:string" || type === "map:bytes") {
      const entry = new Reader(raw);
      let k = "";
      let v: string = "";
      while (!entry.done) {
        const t = Number(entry.varint());
        const b = entry.bytes();
        if (t >> 3 === 1) k = text.decode(b);
        else v = type === "map:bytes" ? Buffer.from(b).toString("base64") : text.decode(b);
      }
      (out[key] ??= {})[k] = v;
    } else if (type === "list:string") (out[key] ??= []).push(text.decode(raw));
    else if (type.startsWith("list:msg:")) (out[key] ??= []).push(decodeMessage(raw, type.slice(9)));
    else out[key] = decodeMessage(raw, type.slice(4));
  }
  return out;
}

function decodeTime(buf: Uint8Array): number {
  const r = new Reader(buf);
  let seconds = 0;
  while (!r.done) {
    const tag = Number(r.varint());
    if (tag >> 3 === 1) seconds = Number(r.varint());
    else r.skip(tag & 7);
  }
  return seconds;
}

/** The JSON object a protobuf request body stands for; 415 for kinds this server cannot decode. */
export function decodeProtobufBody(body: Uint8Array): KubeObject {
  if (body.length < 4 || MAGIC.some((b, i) => body[i] !== b)) throw errors.badRequest("the server rejected our request due to an error in our request: protobuf body without the k8s envelope");
  let unknown: KubeObject;
  try {
    unknown = decodeMessage(body.subarray(4), "Unknown");
  } catch (e) {
    throw errors.badRequest(`the server rejected our request due to an error in our request: ${e instanceof Error ? e.message : String(e)}`);
  }
  const kind: string = unknown.typeMeta?.kind ?? "";
  if (!MESSAGES[kind] || kind === "Unknown" || kind === "TypeMeta" || kind === "ObjectMeta") throw errors.unsupportedMediaType(`${PROTOBUF} (kind ${JSON.stringify(kind)})`);
  try {
    const obj = decodeMessage(Buffer.from(String(unknown.raw ?? ""), "base64"), kind);
    return { apiVersion: unknown.typeMeta.apiVersion, kind, ...obj };
  } catch (e) {
    throw errors.badRequest(`the server rejected our request due to an error in our request: ${e instanceof Error ? e.message : String(e)}`);
  }
}
