// What particular built-in kinds do on write, as their Kubernetes strategies do: Secret
// stringData, Service defaults and ClusterIP allocation, Namespace phase and finalizer, CRD status.
import type { Registry } from './registry.js';
import { storageKey } from './registry.js';
import type { Store } from './store.js';
import { isObject, str, type Json, type JsonObject, type KubeObject, type StatusCause } from './types.js';

export interface HookContext {
  store: Store;
  registry: Registry;
  serviceCidr: { base: number; size: number };
  now: string;
}

export interface KindHooks {
  /** Defaults and derived fields, before validation, on create (old undefined) and update. */
  prepare?(ctx: HookContext, obj: KubeObject, old: KubeObject | undefined): void;
  validate?(ctx: HookContext, obj: KubeObject, old: KubeObject | undefined): StatusCause[];
}

function ipv4ToInt(ip: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0]! * 256 + o[1]!) * 256 + o[2]!) * 256 + o[3]!;
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function parseServiceCidr(cidr: string): { base: number; size: number } | undefined {
  const [ip, len] = cidr.split('/');
  const base = ip ? ipv4ToInt(ip) : undefined;
  const prefix = Number(len);
  if (base === undefined || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) return undefined;
  const size = 2 ** (32 - prefix);
  return { base: base - (base % size), size };
}

function obj(v: Json | undefined): JsonObject {
  return isObject(v) ? v : {};
}

const secretHooks: KindHooks = {
  prepare(_ctx, o) {
    if (isObject(o.stringData)) {
      const data = { ...obj(o.data) };
      for (const [k, v] of Object.entries(o.stringData)) if (typeof v === 'string') data[k] = Buffer.from(v).toString('base64');
      o.data = data;
    }
    delete o.stringData;
    if (typeof o.type !== 'string' || o.type === '') o.type = 'Opaque';
  },
  validate(_ctx, o, old) {
    const out: StatusCause[] = [];
    if (old && old.type !== o.type) out.push({ field: 'type', reason: 'FieldValueInvalid', message: 'Invalid value: field is immutable' });
    if (o.data !== undefined && !isObject(o.data)) out.push({ field: 'data', reason: 'FieldValueTypeInvalid', message: 'Invalid value: must be a map of base64 strings' });
    for (const [k, v] of Object.entries(obj(o.data))) {
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) {
        out.push({ field: `data[${k}]`, reason: 'FieldValueInvalid', message: 'Invalid value: must be base64 encoded' });
      }
    }
    return out;
  },
};

/** Status written by clients at create time is not kept (kube-apiserver does this for Pods, Services, workloads). */
function resetStatusOnCreate(initial: () => JsonObject): KindHooks {
  return {
    prepare(_ctx, o, old) {
      if (!old) o.status = initial();
    },
  };
}

const serviceHooks: KindHooks = {
  prepare(ctx, o, old) {
    if (!old) o.status = { loadBalancer: {} };
    const spec = { ...obj(o.spec) };
    o.spec = spec;
    if (typeof spec.type !== 'string') spec.type = 'ClusterIP';
    if (typeof spec.sessionAffinity !== 'string') spec.sessionAffinity = 'None';
    if (Array.isArray(spec.ports)) {
      spec.ports = spec.ports.map((p) => {
        if (!isObject(p)) return p;
        const q = { ...p };
        if (typeof q.protocol !== 'string') q.protocol = 'TCP';
        if (q.targetPort === undefined && typeof q.port === 'number') q.targetPort = q.port;
        return q;
      });
    }
    if (spec.type === 'ExternalName') return;
    const oldSpec = old ? obj(old.spec) : undefined;
    if (oldSpec && typeof oldSpec.clusterIP === 'string' && (spec.clusterIP === undefined || spec.clusterIP === '')) spec.clusterIP = oldSpec.clusterIP;
    if (typeof spec.clusterIP !== 'string' || spec.clusterIP === '') {
      const ip = allocateClusterIP(ctx);
      if (ip) spec.clusterIP = ip;
    }
    if (typeof spec.clusterIP === 'string' && !Array.isArray(spec.clusterIPs)) spec.clusterIPs = [spec.clusterIP];
    if (spec.clusterIP !== 'None') {
      if (!Array.isArray(spec.ipFamilies)) spec.ipFamilies = ['IPv4'];
      if (typeof spec.ipFamilyPolicy !== 'string') spec.ipFamilyPolicy = 'SingleStack';
    }
    if (typeof spec.internalTrafficPolicy !== 'string') spec.internalTrafficPolicy = 'Cluster';
  },
  validate(ctx, o, old) {
    const out: StatusCause[] = [];
    const spec = obj(o.spec);
    const ip = spec.clusterIP;
    const oldIp = old ? obj(old.spec).clusterIP : undefined;
    if (old && oldIp !== undefined && ip !== oldIp) {
      out.push({ field: 'spec.clusterIP', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(ip ?? '')}: field is immutable` });
    }
    if (!old && typeof ip === 'string' && ip !== 'None' && ip !== '') {
      if (ipv4ToInt(ip) === undefined && !ip.includes(':')) {
        out.push({ field: 'spec.clusterIP', reason: 'FieldValueInvalid', message: `Invalid value: "${ip}": must be a valid IP address or "None"` });
      } else if (usedClusterIPs(ctx, str(o.metadata.namespace), str(o.metadata.name)).has(ip)) {
        out.push({ field: 'spec.clusterIPs', reason: 'FieldValueInvalid', message: `Invalid value: ["${ip}"]: failed to allocate IP ${ip}: provided IP is already allocated` });
      }
    }
    if (Array.isArray(spec.ports)) {
      spec.ports.forEach((p, i) => {
        if (!isObject(p) || typeof p.port !== 'number' || p.port < 1 || p.port > 65535) {
          out.push({ field: `spec.ports[${i}].port`, reason: 'FieldValueInvalid', message: 'Invalid value: must be between 1 and 65535, inclusive' });
        }
      });
    }
    return out;
  },
};

function usedClusterIPs(ctx: HookContext, exceptNs?: string, exceptName?: string): Set<string> {
  const used = new Set<string>();
  for (const e of ctx.store.list('/services')) {
    if (str(e.obj.metadata.namespace) === exceptNs && str(e.obj.metadata.name) === exceptName) continue;
    const ip = obj(e.obj.spec).clusterIP;
    if (typeof ip === 'string') used.add(ip);
  }
  return used;
}

let nextIpOffset = 10;

function allocateClusterIP(ctx: HookContext): string | undefined {
  const used = usedClusterIPs(ctx);
  const { base, size } = ctx.serviceCidr;
  // .0 is the network, .1 is by convention the `kubernetes` Service, the last is broadcast
  for (let tries = 0; tries < size; tries++) {
    const off = 2 + ((nextIpOffset - 2 + tries) % (size - 3));
    const ip = intToIpv4(base + off);
    if (!used.has(ip)) {
      nextIpOffset = off + 1;
      return ip;
    }
  }
  return undefined;
}

const namespaceHooks: KindHooks = {
  prepare(ctx, o, old) {
    const name = str(o.metadata.name) ?? '';
    o.metadata.labels = { ...obj(o.metadata.labels), 'kubernetes.io/metadata.name': name };
    if (!old) {
      o.spec = { ...obj(o.spec), finalizers: ['kubernetes'] };
      o.status = { phase: 'Active' };
    } else {
      // spec.finalizers change only through /finalize; the phase is ours
      o.spec = obj(old.spec);
      o.status = old.metadata.deletionTimestamp ? { ...obj(old.status), phase: 'Terminating' } : { ...obj(o.status), phase: str(obj(old.status).phase) ?? 'Active' };
    }
    void ctx;
  },
};

const crdHooks: KindHooks = {
  prepare(ctx, o, old) {
    const spec = { ...obj(o.spec) };
    o.spec = spec;
    if (!isObject(spec.conversion)) spec.conversion = { strategy: 'None' };
    const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [];
    const storage = str(versions.find((v) => v.storage === true)?.name);
    const oldConditions = old && Array.isArray(obj(old.status).conditions) ? (obj(old.status).conditions as Json[]).filter(isObject) : [];
    const since = (type: string): string => str(oldConditions.find((c) => c.type === type)?.lastTransitionTime) ?? ctx.now;
    const stored = old && Array.isArray(obj(old.status).storedVersions) ? (obj(old.status).storedVersions as Json[]).filter((v): v is string => typeof v === 'string') : [];
    if (storage && !stored.includes(storage)) stored.push(storage);
    o.status = {
      acceptedNames: obj(spec.names),
      conditions: [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: since('NamesAccepted') },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: since('Established') },
      ],
      storedVersions: stored,
    };
  },
  validate(ctx, o, old) {
    const causes = ctx.registry.checkCrd(o);
    if (old) {
      const a = obj(old.spec);
      const b = obj(o.spec);
      if (a.group !== b.group) causes.push({ field: 'spec.group', reason: 'FieldValueInvalid', message: 'Invalid value: field is immutable' });
      if (obj(a.names).plural !== obj(b.names).plural) causes.push({ field: 'spec.names.plural', reason: 'FieldValueInvalid', message: 'Invalid value: field is immutable' });
      if (a.scope !== b.scope) causes.push({ field: 'spec.scope', reason: 'FieldValueInvalid', message: 'Invalid value: field is immutable' });
    }
    return causes;
  },
};

const HOOKS: Readonly<Record<string, KindHooks>> = {
  '/secrets': secretHooks,
  '/services': serviceHooks,
  '/namespaces': namespaceHooks,
  '/pods': resetStatusOnCreate(() => ({ phase: 'Pending', qosClass: 'BestEffort' })),
  'apps/deployments': resetStatusOnCreate(() => ({})),
  'apps/daemonsets': resetStatusOnCreate(() => ({})),
  'apiextensions.k8s.io/customresourcedefinitions': crdHooks,
};

export function hooksFor(t: { group: string; plural: string }): KindHooks | undefined {
  return HOOKS[storageKey(t)];
}
