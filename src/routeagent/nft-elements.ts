// The route agent's element changes on its interval sets (IPv4 CIDRs), written through the nfnetlink
// door in src/os/nftables: one batch of DELSETELEM/NEWSETELEM, one transaction in the kernel.
// libnftables (and `nft`) first read back every element of an interval set for their overlap checks, so
// one element change with 1,000 CIDRs present cost ~20 ms there; this costs the change. Our sets never
// hold overlapping elements (firewall.ts leaves out covered CIDRs, and deletes go before adds), so no
// userspace check is needed: the kernel refuses a real overlap and the caller then falls back to a
// checked whole-table write.
import { NfnlSocket } from '../os/nftables/nfnl-socket.js';
import { ipv4CidrElements, type NfElementOp } from '../os/nftables/nfnl.js';

/** The elements of one set that go and come in one transaction (CIDR texts as firewall.ts writes them). */
export interface SetElementChange {
  set: string;
  add: readonly string[];
  del: readonly string[];
}

/** Pure: one table's changes as element ops on `ip` interval sets, in order: every delete, then every add. */
export function elementOps(table: string, changes: readonly SetElementChange[]): NfElementOp[] {
  const ops: NfElementOp[] = [];
  for (const verb of ['delete', 'add'] as const) {
    for (const c of changes) {
      const cidrs = verb === 'delete' ? c.del : c.add;
      if (cidrs.length) ops.push({ op: verb, family: 'ip', table, set: c.set, elements: cidrs.flatMap(ipv4CidrElements) });
    }
  }
  return ops;
}

/** Writes element changes of the route agent's sets as one nftables transaction per call. */
export class NfnlSetElements {
  private constructor(private readonly sock: NfnlSocket) {}

  /** For this process's network namespace, or `netns` (a name under /run/netns); else why not. */
  static open(netns?: string): NfnlSetElements | { unavailable: string } {
    const sock = NfnlSocket.open(netns);
    return 'unavailable' in sock ? sock : new NfnlSetElements(sock);
  }

  /** One transaction; rejects with NftError naming the refused op, its CIDR and errno (nothing applied then). */
  async apply(table: string, changes: readonly SetElementChange[]): Promise<void> {
    await this.sock.commit(elementOps(table, changes));
  }

  close(): void {
    this.sock.close();
  }
}
