// Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which
// kubectl's typed commands send (`kubectl create namespace|secret|configmap|serviceaccount|role|
// rolebinding|clusterrole|clusterrolebinding|service|token`, `kubectl auth can-i`). Decoded into the
// JSON form for the kinds below; anything else is refused with a clear 415 rather than guessed at.
import { ApiError, rfc3339, type Json, type JsonObject } from './types.js';

/**
 * Message layouts: `field:number:type`, where type is s (string), b (bool), i32, i64, bytes,
 * time, intstr, fieldsv1, a message name, `[T]` (repeated) or `map<s|bytes>`; a trailing `?`
 * marks an optional (pointer) field whose zero value is meaningful and kept.
 */
const LAYOUTS: Readonly<Record<string, string>> = {
  Unknown: 'typeMeta:1:TypeMeta raw:2:rawbytes contentEncoding:3:s contentType:4:s',
  TypeMeta: 'apiVersion:1:s kind:2:s',
  ObjectMeta:
    'name:1:s generateName:2:s namespace:3:s selfLink:4:s uid:5:s resourceVersion:6:s generation:7:i64 creationTimestamp:8:time ' +
    'deletionTimestamp:9:time deletionGracePeriodSeconds:10:i64? labels:11:map<s> annotations:12:map<s> ownerReferences:13:[OwnerReference] ' +
    'finalizers:14:[s] managedFields:17:[ManagedFieldsEntry]',
  OwnerReference: 'kind:1:s name:3:s uid:4:s apiVersion:5:s controller:6:b? blockOwnerDeletion:7:b?',
  ManagedFieldsEntry: 'manager:1:s operation:2:s apiVersion:3:s time:4:time fieldsType:6:s fieldsV1:7:fieldsv1 subresource:8:s',
  LabelSelector: 'matchLabels:1:map<s> matchExpressions:2:[LabelSelectorRequirement]',
  LabelSelectorRequirement: 'key:1:s operator:2:s values:3:[s]',
  Condition: 'type:1:s status:2:s observedGeneration:3:i64 lastTransitionTime:4:time reason:5:s message:6:s',
  Namespace: 'metadata:1:ObjectMeta spec:2:NamespaceSpec status:3:NamespaceStatus',
  NamespaceSpec: 'finalizers:1:[s]',
  NamespaceStatus: 'phase:1:s conditions:2:[NamespaceCondition]',
  NamespaceCondition: 'type:1:s status:2:s lastTransitionTime:4:time reason:5:s message:6:s',
  ConfigMap: 'metadata:1:ObjectMeta data:2:map<s> binaryData:3:map<bytes> immutable:4:b?',
  Secret: 'metadata:1:ObjectMeta data:2:map<bytes> type:3:s stringData:4:map<s> immutable:5:b?',
  ServiceAccount: 'metadata:1:ObjectMeta secrets:2:[ObjectReference] imagePullSecrets:3:[LocalObjectReference] automountServiceAccountToken:4:b?',
  ObjectReference: 'kind:1:s namespace:2:s name:3:s uid:4:s apiVersion:5:s resourceVersion:6:s fieldPath:7:s',
  LocalObjectReference: 'name:1:s',
  Service: 'metadata:1:ObjectMeta spec:2:ServiceSpec status:3:ServiceStatus',
  ServiceSpec:
    'ports:1:[ServicePort] selector:2:map<s> clusterIP:3:s type:4:s externalIPs:5:[s] sessionAffinity:7:s loadBalancerIP:8:s ' +
    'loadBalancerSourceRanges:9:[s] externalName:10:s externalTrafficPolicy:11:s healthCheckNodePort:12:i32 publishNotReadyAddresses:13:b ' +
    'sessionAffinityConfig:14:SessionAffinityConfig ipFamilyPolicy:17:s? clusterIPs:18:[s] ipFamilies:19:[s] allocateLoadBalancerNodePorts:20:b? ' +
    'loadBalancerClass:21:s? internalTrafficPolicy:22:s? trafficDistribution:23:s?',
  ServicePort: 'name:1:s protocol:2:s port:3:i32 targetPort:4:intstr nodePort:5:i32 appProtocol:6:s?',
  SessionAffinityConfig: 'clientIP:1:ClientIPConfig',
  ClientIPConfig: 'timeoutSeconds:1:i32?',
  ServiceStatus: 'loadBalancer:1:LoadBalancerStatus conditions:2:[Condition]',
  LoadBalancerStatus: 'ingress:1:[LoadBalancerIngress]',
  LoadBalancerIngress: 'ip:1:s hostname:2:s ipMode:3:s? ports:4:[PortStatus]',
  PortStatus: 'port:1:i32 protocol:2:s error:3:s?',
  Role: 'metadata:1:ObjectMeta rules:2:[PolicyRule]',
  ClusterRole: 'metadata:1:ObjectMeta rules:2:[PolicyRule] aggregationRule:3:AggregationRule',
  AggregationRule: 'clusterRoleSelectors:1:[LabelSelector]',
  PolicyRule: 'verbs:1:[s] apiGroups:2:[s] resources:3:[s] resourceNames:4:[s] nonResourceURLs:5:[s]',
  RoleBinding: 'metadata:1:ObjectMeta subjects:2:[Subject] roleRef:3:RoleRef',
  ClusterRoleBinding: 'metadata:1:ObjectMeta subjects:2:[Subject] roleRef:3:RoleRef',
  Subject: 'kind:1:s apiGroup:2:s name:3:s namespace:4:s',
  RoleRef: 'apiGroup:1:s kind:2:s name:3:s',
  SelfSubjectAccessReview: 'metadata:1:ObjectMeta spec:2:SelfSubjectAccessReviewSpec status:3:SubjectAccessReviewStatus',
  SelfSubjectAccessReviewSpec: 'resourceAttributes:1:ResourceAttributes nonResourceAttributes:2:NonResourceAttributes',
  ResourceAttributes: 'namespace:1:s verb:2:s group:3:s version:4:s resource:5:s subresource:6:s name:7:s fieldSelector:8:SelectorAttributes labelSelector:9:SelectorAttributes',
  SelectorAttributes: 'rawSelector:1:s requirements:2:[LabelSelectorRequirement]',
  NonResourceAttributes: 'path:1:s verb:2:s',
  SubjectAccessReviewStatus: 'allowed:1:b reason:2:s evaluationError:3:s denied:4:b',
  TokenRequest: 'metadata:1:ObjectMeta spec:2:TokenRequestSpec status:3:TokenRequestStatus',
  TokenRequestSpec: 'audiences:1:[s] boundObjectRef:3:BoundObjectReference expirationSeconds:4:i64?',
  BoundObjectReference: 'kind:1:s apiVersion:2:s name:3:s uid:4:s',
  TokenRequestStatus: 'token:1:s expirationTimestamp:2:time',
  DeleteOptions: 'gracePeriodSeconds:1:i64? preconditions:2:Preconditions orphanDependents:3:b? propagationPolicy:4:s? dryRun:5:[s] ignoreStoreReadErrorWithClusterBreakingPotential:6:b?',
  Preconditions: 'uid:1:s? resourceVersion:2:s?',
};

/** apiVersion/kind -> message. */
const KINDS: Readonly<Record<string, string>> = {
  'v1/Namespace': 'Namespace',
  'v1/ConfigMap': 'ConfigMap',
  'v1/Secret': 'Secret',
  'v1/ServiceAccount': 'ServiceAccount',
  'v1/Service': 'Service',
  'rbac.authorization.k8s.io/v1/Role': 'Role',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'ClusterRole',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'ClusterRoleBinding',
  'authorization.k8s.io/v1/SelfSubjectAccessReview': 'SelfSubjectAccessReview',
  'authentication.k8s.io/v1/TokenRequest': 'TokenRequest',
  'v1/DeleteOptions': 'DeleteOptions',
  'meta.k8s.io/v1/DeleteOptions': 'DeleteOptions',
};

interface Field {
  name: string;
  type: string;
  repeated: boolean;
  map?: 's' | 'bytes';
  keepZero: boolean;
}

const messages = new Map<string, Map<number, Field>>();
for (const [msg, layout] of Object.entries(LAYOUTS)) {
  const fields = new Map<number, Field>();
  for (const spec of layout.split(/\s+/)) {
    const [name, num, rawType] = spec.split(':') as [string, string, string];
    const keepZero = rawType.endsWith('?');
    let type = keepZero ? rawType.slice(0, -1) : rawType;
    const repeated = type.startsWith('[');
    if (repeated) type = type.slice(1, -1);
    const m = /^map<(s|bytes)>$/.exec(type);
    fields.set(Number(num), { name, type, repeated, map: m ? (m[1] as 's' | 'bytes') : undefined, keepZero });
  }
  messages.set(msg, fields);
}

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly end = buf.length,
  ) {}
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw malformed('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw malformed('varint too long');
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    if (len < 0 || this.pos + len > this.end) throw malformed('length beyond the message');
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw malformed(`unsupported wire type ${wire}`);
    if (this.pos > this.end) throw malformed('truncated field');
  }
}

function malformed(why: string): ApiError {
  return new ApiError(400, 'BadRequest', `cannot decode the protobuf request body: ${why}`);
}

function signed64(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

function isZero(v: Json): boolean {
  if (v === '' || v === 0 || v === false || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}

function decodeTime(buf: Buffer): Json {
  const o = decodeRaw(buf, new Map([[1, { name: 'seconds', type: 'i64', repeated: false, keepZero: false }], [2, { name: 'nanos', type: 'i32', repeated: false, keepZero: false }]]));
  const seconds = typeof o.seconds === 'number' ? o.seconds : 0;
  if (seconds <= 0) return null;
  return rfc3339(new Date(seconds * 1000));
}

function decodeIntOrString(buf: Buffer): Json {
  const r = new Reader(buf);
  let type = 0;
  let intVal = 0;
  let strVal = '';
  while (r.pos < r.end) {
    const key = Number(r.varint());
    const [num, wire] = [key >> 3, key & 7];
    if (num === 1 && wire === 0) type = signed64(r.varint());
    else if (num === 2 && wire === 0) intVal = Number(BigInt.asIntN(32, r.varint()));
    else if (num === 3 && wire === 2) strVal = r.bytes().toString('utf8');
    else r.skip(wire);
  }
  return type === 1 ? strVal : intVal;
}

function scalar(f: Field, wire: number, r: Reader): Json {
  switch (f.type) {
    case 's':
      if (wire !== 2) throw malformed(`${f.name}: expected a string`);
      return r.bytes().toString('utf8');
    case 'bytes':
      return r.bytes().toString('base64');
    case 'b':
      return r.varint() !== 0n;
    case 'i32':
      return Number(BigInt.asIntN(32, r.varint()));
    case 'i64':
      return signed64(r.varint());
    case 'time':
      return decodeTime(r.bytes());
    case 'intstr':
      return decodeIntOrString(r.bytes());
    case 'fieldsv1': {
      const inner = decodeRaw(r.bytes(), new Map([[1, { name: 'raw', type: 'rawbytes', repeated: false, keepZero: false }]]));
      try {
        return JSON.parse(String(inner.raw ?? '{}')) as Json;
      } catch {
        throw malformed(`${f.name}: not JSON`);
      }
    }
    case 'rawbytes':
      return r.bytes().toString('latin1');
    default: {
      const layout = messages.get(f.type);
      if (!layout) throw malformed(`no layout for ${f.type}`);
      return decodeRaw(r.bytes(), layout, f.type);
    }
  }
}

function decodeRaw(buf: Buffer, layout: Map<number, Field>, msgName = 'message'): JsonObject {
  const r = new Reader(buf);
  const out: JsonObject = {};
  const keep = new Set<string>();
  while (r.pos < r.end) {
    const key = Number(r.varint());
    const num = key >> 3;
    const wire = key & 7;
    const f = layout.get(num);
    if (!f) {
      throw new ApiError(415, 'UnsupportedMediaType', `protobuf field ${num} of ${msgName} is not understood by this server; send JSON instead (e.g. kubectl apply -f)`);
    }
    if (f.map) {
      const entry = r.bytes();
      const er = new Reader(entry);
      let k = '';
      let v: Json = f.map === 'bytes' ? '' : '';
      while (er.pos < er.end) {
        const ek = Number(er.varint());
        if (ek >> 3 === 1) k = er.bytes().toString('utf8');
        else if (ek >> 3 === 2) v = f.map === 'bytes' ? er.bytes().toString('base64') : er.bytes().toString('utf8');
        else er.skip(ek & 7);
      }
      const m = (out[f.name] ??= {}) as JsonObject;
      m[k] = v;
      continue;
    }
    const v = scalar(f, wire, r);
    if (f.repeated) ((out[f.name] ??= []) as Json[]).push(v);
    else {
      out[f.name] = v;
      if (f.keepZero) keep.add(f.name);
    }
  }
  // Go's encoder writes zero values of plain fields; their JSON form leaves them out
  for (const [k, v] of Object.entries(out)) if (!keep.has(k) && isZero(v)) delete out[k];
  return out;
}

export function isProtobuf(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === PROTOBUF_CONTENT_TYPE;
}

/** Decodes a `k8s\0`-prefixed protobuf envelope into the object's JSON form. */
export function decodeProtobufObject(body: Buffer): JsonObject {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw malformed('missing the "k8s\\0" prefix');
  const env = decodeRaw(body.subarray(4), messages.get('Unknown')!, 'Unknown');
  const tm = (env.typeMeta ?? {}) as JsonObject;
  const apiVersion = typeof tm.apiVersion === 'string' ? tm.apiVersion : '';
  const kind = typeof tm.kind === 'string' ? tm.kind : '';
  const msg = KINDS[`${apiVersion}/${kind}`];
  if (!msg) {
    throw new ApiError(415, 'UnsupportedMediaType', `protobuf bodies are accepted for ${[...new Set(Object.keys(KINDS).map((k) => k.split('/').pop()))].join(', ')} only, not ${kind || 'this kind'}; send JSON instead (e.g. kubectl apply -f)`);
  }
  const raw = Buffer.from(typeof env.raw === 'string' ? env.raw : '', 'latin1');
  return { apiVersion, kind, ...decodeRaw(raw, messages.get(msg)!, msg) };
}
