// Interpreting fakes of the route agent's sysctl and nft ports (the Rtnl fake is test/support/fake-rtnl.ts):
// they keep state like the kernel would, record every write, and dump their state as text.
import { FakeRtnl } from '../support/fake-rtnl.js';
import type { Sysctl } from '../../src/os/sysctl.js';
import type { NftPort } from '../../src/routeagent/dataplane.js';
import type { NftFamily } from '../../src/os/nft.js';

// the Rtnl fake lives in test/support (shared by every subsystem); re-exported for the route agent's tests
export { FakeRtnl };

export class FakeSysctl implements Sysctl {
  values = new Map<string, string>([['net/ipv4/ip_forward', '0']]);
  writes: string[] = [];
  constructor(private readonly rtnl: FakeRtnl) {}
  async get(path: string): Promise<string | undefined> {
    const m = /^net\/ipv4\/conf\/([^/]+)\/rp_filter$/.exec(path);
    if (m && !this.rtnl.links_.some((l) => l.name === m[1])) return undefined;
    return this.values.get(path) ?? (m ? '0' : undefined);
  }
  async set(path: string, value: string): Promise<void> {
    this.writes.push(`${path}=${value}`);
    this.values.set(path, value);
  }
  async close(): Promise<void> {}
}

export class FakeNft implements NftPort {
  tables = new Map<string, string>();
  scripts: string[] = [];
  /** nft prints what it was given closely enough for the listing parser. */
  async listTable(family: NftFamily, name: string): Promise<string | undefined> {
    return this.tables.get(`${family} ${name}`);
  }
  async run(script: string): Promise<void> {
    this.scripts.push(script);
    const m = /^table (\S+) (\S+) \{$/m.exec(script);
    if (!m) throw new Error('fake nft: no table body in script');
    const start = script.indexOf(m[0]);
    this.tables.set(`${m[1]} ${m[2]}`, script.slice(start));
  }
  async deleteTable(family: NftFamily, name: string): Promise<boolean> {
    return this.tables.delete(`${family} ${name}`);
  }
}
