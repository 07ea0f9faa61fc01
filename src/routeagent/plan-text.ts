// One line per planned object, in the words of `ip`/`bridge`/`sysctl`: what tests compare and what
// `hawser show` prints.
import { sysctlDisplayName } from '../os/sysctl.js';
import { firewallRuleCount, setElements } from './firewall.js';
import type { MssPolicy, PlannedRoute, RouteAgentPlan } from './types.js';

export function mssText(m: MssPolicy): string {
  return m.kind === 'pmtu' ? 'pmtu' : String(m.value);
}

export function routeText(r: PlannedRoute): string {
  const via = r.via ? ` via ${r.via}` : '';
  const src = r.src ? ` src ${r.src}` : '';
  return `route ${r.dst}${via} dev ${r.dev}${r.onlink ? ' onlink' : r.via ? '' : ' scope link'}${src} table ${r.table}`;
}

export function planToText(plan: RouteAgentPlan): string {
  const out: string[] = [];
  out.push(`node ${plan.node} role ${plan.role}${plan.gateway ? ` gateway ${plan.gateway.name} ${plan.gateway.ip}` : ''}`);
  for (const l of plan.links) {
    out.push(`link ${l.name} ${l.kind} vni ${l.vni} dstport ${l.port} local ${l.local} mac ${l.mac} mtu ${l.mtu}${l.learning ? '' : ' nolearning'}`);
  }
  for (const a of plan.addresses) out.push(`address ${a.address}/${a.prefix} dev ${a.dev}`);
  for (const f of plan.fdb) out.push(`fdb ${f.mac} dst ${f.dst} dev ${f.dev}`);
  for (const n of plan.neighbors) out.push(`neighbor ${n.ip} lladdr ${n.mac} dev ${n.dev}`);
  for (const r of plan.routes) out.push(routeText(r));
  for (const r of plan.rules) out.push(`rule pref ${r.pref} lookup ${r.table}`);
  for (const s of plan.sysctls) out.push(`sysctl ${sysctlDisplayName(s.path)}=${s.value}`);
  const f = plan.firewall;
  out.push(`nft table ${f.family} ${f.table} local {${f.localCidrs.join(',')}} remote {${f.remoteCidrs.join(',')}} snat-vtep-to ${f.nodeIP} mss ${mssText(f.mss)}`);
  for (const w of plan.warnings) out.push(`warning ${w}`);
  return out.join('\n') + '\n';
}

/** What a plan installs, by kind (the names of the route agent's `installed` metric). */
export function planCounts(plan: RouteAgentPlan): { routes: number; rules: number; fdb_entries: number; nft_rules: number; ipset_entries: number } {
  return {
    routes: plan.routes.length,
    rules: plan.rules.length,
    fdb_entries: plan.fdb.length,
    nft_rules: firewallRuleCount(plan.firewall),
    ipset_entries: setElements(plan.firewall.localCidrs).length + setElements(plan.firewall.remoteCidrs).length,
  };
}
