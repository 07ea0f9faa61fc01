// A tiny in-memory "API server" for Globalnet's planner: typed objects, a clock, status writes that can
// fail, and the GlobalIngressIP create/delete ops the planner asks for. Shared by the property tests.
import { planGlobalnet, type GlobalnetInputs, type GlobalnetPlan } from '../../src/nat/desired.js';
import type {
  ClusterGlobalEgressIP, Count, GlobalEgressIP, GlobalIngressIP, Meta, Pod, Service, ServiceExport,
} from '../../src/nat/resources.js';
import { seededRandom } from '../support/prng.js';

export const rng = seededRandom;

export class World {
  clock = Date.parse('2024-01-01T00:00:00Z');
  private uid = 0;
  cges = new Map<string, ClusterGlobalEgressIP>();
  geips = new Map<string, GlobalEgressIP>();
  giips = new Map<string, GlobalIngressIP>();
  services = new Map<string, Service>();
  exports = new Map<string, ServiceExport>();
  pods = new Map<string, Pod>();

  constructor(
    readonly globalCidr: string,
    readonly localCidrs: string[] = ['10.42.0.0/16'],
    readonly remoteGlobalCidrs: string[] = ['242.1.0.0/16'],
  ) {}

  tick(ms = 1000): void {
    this.clock += ms;
  }

  meta(name: string, namespace = ''): Meta {
    return { name, namespace, uid: `u${++this.uid}`, creationTimestamp: new Date(this.clock).toISOString().replace('.000Z', 'Z'), generation: 1, labels: {}, annotations: {} };
  }

  addClusterEgress(name: string, n: Count = { kind: 'default' }): void {
    this.cges.set(name, { meta: this.meta(name), numGlobalIPs: n, status: { allocatedIPs: [], conditions: [] } });
  }

  addEgress(ns: string, name: string, n: Count = { kind: 'default' }, podSelector: GlobalEgressIP['podSelector'] = { kind: 'none' }): void {
    this.geips.set(`${ns}/${name}`, { meta: this.meta(name, ns), numberOfIPs: n, podSelector, status: { allocatedIPs: [], conditions: [] } });
  }

  exportService(ns: string, name: string, clusterIP: string, opts: Partial<Service> = {}): void {
    this.services.set(`${ns}/${name}`, {
      namespace: ns, name, type: 'ClusterIP', clusterIP, ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
      publishNotReadyAddresses: false, labels: {}, externalIPs: [], finalizers: [], selector: { app: name }, ...opts,
    });
    this.exports.set(`${ns}/${name}`, { namespace: ns, name });
  }

  addPod(ns: string, name: string, ip: string, labels: Record<string, string> = {}): void {
    this.pods.set(`${ns}/${name}`, { namespace: ns, name, labels, podIP: ip, phase: 'Running', hostNetwork: false });
  }

  inputs(): GlobalnetInputs {
    return {
      globalCidr: this.globalCidr,
      localCidrs: this.localCidrs,
      remoteGlobalCidrs: this.remoteGlobalCidrs,
      clusterEgressIPs: [...this.cges.values()],
      egressIPs: [...this.geips.values()],
      ingressIPs: [...this.giips.values()],
      serviceExports: [...this.exports.values()],
      services: [...this.services.values()],
      pods: [...this.pods.values()],
      endpoints: [],
      now: new Date(this.clock).toISOString(),
    };
  }

  /** Plans and applies; `failWrite` decides per status write whether it fails (like a 409). */
  reconcile(failWrite: () => boolean = () => false): { plan: GlobalnetPlan; failed: number } {
    const plan = planGlobalnet(this.inputs());
    let failed = 0;
    for (const u of plan.statusUpdates) {
      if (failWrite()) {
        failed++;
        continue;
      }
      if (u.kind === 'ClusterGlobalEgressIP') this.cges.get(u.name)!.status = u.status;
      else if (u.kind === 'GlobalEgressIP') this.geips.get(`${u.namespace}/${u.name}`)!.status = u.status;
      else this.giips.get(`${u.namespace}/${u.name}`)!.status = u.status;
    }
    for (const op of plan.ingressObjects) {
      if (op.op === 'delete') this.giips.delete(`${op.namespace}/${op.name}`);
      else if (op.op === 'create') {
        const o = op.object;
        this.giips.set(`${o.namespace}/${o.name}`, {
          meta: { ...this.meta(o.name, o.namespace), labels: o.labels, annotations: o.annotations },
          target: o.target, serviceRef: o.serviceRef, ...(o.podRef ? { podRef: o.podRef } : {}),
          status: { allocatedIP: '', conditions: [] },
        });
      } else {
        const g = this.giips.get(`${op.object.namespace}/${op.object.name}`)!;
        g.meta = { ...g.meta, labels: op.object.labels, annotations: op.object.annotations };
      }
    }
    return { plan, failed };
  }

  /** Every (owner, ip) pair the statuses claim. */
  statusIps(): [string, string][] {
    const out: [string, string][] = [];
    for (const c of this.cges.values()) for (const ip of c.status.allocatedIPs) out.push([`cge ${c.meta.name}`, ip]);
    for (const e of this.geips.values()) for (const ip of e.status.allocatedIPs) out.push([`ge ${e.meta.namespace}/${e.meta.name}`, ip]);
    for (const g of this.giips.values()) if (g.status.allocatedIP) out.push([`gi ${g.meta.namespace}/${g.meta.name}`, g.status.allocatedIP]);
    return out;
  }
}
