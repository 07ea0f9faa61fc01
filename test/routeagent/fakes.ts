// Interpreting fakes of the route agent's sysctl and nft ports (the Rtnl fake is test/support/fake-rtnl.ts):
// they keep state like the kernel would, record every write, and dump their state as text.
import { FakeRtnl } from '../support/fake-rtnl.js';
import type { NftPort } from '../../src/routeagent/dataplane.js';
import type { NftFamily } from '../../src/os/nft.js';

// the Rtnl fake lives in test/support (shared by every subsystem); re-exported for the route agent's tests
export { FakeRtnl };
export { FakeSysctl } from '../support/fake-rtnl.js';

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
