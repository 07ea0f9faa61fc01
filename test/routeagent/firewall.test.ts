import assert from 'node:assert/strict';
import { parseTableListing } from '../../src/os/nft.js';
import { firewallChange, renderFirewall, setElements } from '../../src/routeagent/firewall.js';
import type { PlannedFirewall } from '../../src/routeagent/types.js';
import { vtepIP, vtepMac } from '../../src/routeagent/vtep.js';

const fw: PlannedFirewall = {
  family: 'ip',
  table: 'hawser',
  nodeIP: '10.0.0.12',
  localCidrs: ['10.96.0.0/12', '10.244.0.0/16'],
  remoteCidrs: ['10.245.0.0/16'],
  vxlanPort: 4800,
  mss: { kind: 'fixed', value: 1340 },
};

describe('routeagent firewall (nftables rendering)', () => {
  it('renders one atomic replacement of table ip hawser', () => {
    const text = renderFirewall(fw);
    const digest = /plan=([0-9a-f]{16})/.exec(text)?.[1];
    assert.ok(digest);
    assert.equal(
      text,
      `table ip hawser
delete table ip hawser
table ip hawser {
	comment "hawser route-agent plan=${digest}"
	set SUBMARINER-LOCALCIDRS { type ipv4_addr; flags interval; elements = { 10.96.0.0/12, 10.244.0.0/16 }; }
	set SUBMARINER-REMOTECIDRS { type ipv4_addr; flags interval; elements = { 10.245.0.0/16 }; }
	chain SUBMARINER-POSTROUTING {
		type nat hook postrouting priority srcnat - 20; policy accept;
		ip saddr 240.0.0.0/8 oifname != "vx-submariner" ip daddr != @SUBMARINER-REMOTECIDRS snat ip to 10.0.0.12 comment "hawser: traffic from vx-submariner VTEPs leaves with the node IP"
		ip saddr @SUBMARINER-LOCALCIDRS ip daddr @SUBMARINER-REMOTECIDRS snat ip to ip saddr comment "hawser: local to remote keeps its source (binds before any masquerade)"
		ip saddr @SUBMARINER-REMOTECIDRS ip daddr @SUBMARINER-LOCALCIDRS snat ip to ip saddr comment "hawser: remote to local keeps its source (binds before any masquerade)"
	}
	chain SUBMARINER-INPUT {
		type filter hook input priority filter; policy accept;
		udp dport 4800 counter comment "hawser: vx-submariner from other nodes"
	}
	chain SUBMARINER-FORWARD {
		type filter hook forward priority filter; policy accept;
		ip saddr @SUBMARINER-LOCALCIDRS ip daddr @SUBMARINER-REMOTECIDRS counter comment "hawser: local to remote"
		ip saddr @SUBMARINER-REMOTECIDRS ip daddr @SUBMARINER-LOCALCIDRS counter comment "hawser: remote to local"
	}
	chain SUBMARINER-MSS {
		type filter hook postrouting priority mangle; policy accept;
		ip saddr @SUBMARINER-LOCALCIDRS ip daddr @SUBMARINER-REMOTECIDRS tcp flags syn tcp option maxseg size > 1340 tcp option maxseg size set 1340 comment "hawser: MSS clamp local to remote"
		ip saddr @SUBMARINER-REMOTECIDRS ip daddr @SUBMARINER-LOCALCIDRS tcp flags syn tcp option maxseg size > 1340 tcp option maxseg size set 1340 comment "hawser: MSS clamp remote to local"
	}
}
`,
    );
  });

  it('PMTU clamping when no MSS is known; empty sets have no elements clause', () => {
    const text = renderFirewall({ ...fw, remoteCidrs: [], mss: { kind: 'pmtu' } });
    assert.match(text, /set SUBMARINER-REMOTECIDRS \{ type ipv4_addr; flags interval; \}/);
    assert.match(text, /tcp flags syn tcp option maxseg size set rt mtu comment/);
  });

  it('the digest changes with any input', () => {
    const d = (f: PlannedFirewall): string => /plan=(\w+)/.exec(renderFirewall(f))![1]!;
    assert.notEqual(d(fw), d({ ...fw, remoteCidrs: ['10.246.0.0/16'] }));
    assert.notEqual(d(fw), d({ ...fw, nodeIP: '10.0.0.13' }));
    assert.notEqual(d(fw), d({ ...fw, mss: { kind: 'pmtu' } }));
    assert.equal(d(fw), d({ ...fw }));
  });

  it('set elements leave out CIDRs inside others, so no auto-merge is needed', () => {
    assert.deepEqual(setElements(['10.1.0.0/16', '10.0.0.0/8', '192.168.1.0/24', '192.168.0.0/24', '192.168.1.128/25', '11.0.0.0/8']), [
      '10.0.0.0/8', '11.0.0.0/8', '192.168.0.0/24', '192.168.1.0/24',
    ]);
  });

  // what nft 1.0.6 prints for the table (counters included, long element lists wrapped), trimmed to two chains
  const listing = (digest: string, postroutingRules: string[], remote = '10.245.0.0/16,\n\t\t\t     10.246.0.0/16'): string => `table ip hawser {
	comment "hawser route-agent plan=${digest}"
	set SUBMARINER-LOCALCIDRS {
		type ipv4_addr
		flags interval
		elements = { 10.96.0.0/12, 10.244.0.0/16 }
	}

	set SUBMARINER-REMOTECIDRS {
		type ipv4_addr
		flags interval
		elements = { ${remote} }
	}

	chain SUBMARINER-POSTROUTING {
		type nat hook postrouting priority 80; policy accept;
${postroutingRules.map((r) => `\t\t${r}\n`).join('')}	}

	chain SUBMARINER-INPUT {
		type filter hook input priority filter; policy accept;
		udp dport 4800 counter packets 12 bytes 1400 comment "hawser: vx-submariner from other nodes"
	}
}
`;

  it('parses an nft listing: comment, sets with elements, chains with their rules', () => {
    const t = parseTableListing(listing('abc', ['ip saddr 240.0.0.0/8 snat to 10.0.0.12', 'ip saddr @X snat to ip saddr']));
    assert.equal(t.comment, 'hawser route-agent plan=abc');
    assert.deepEqual([...t.sets], [
      ['SUBMARINER-LOCALCIDRS', ['10.96.0.0/12', '10.244.0.0/16']],
      ['SUBMARINER-REMOTECIDRS', ['10.245.0.0/16', '10.246.0.0/16']],
    ]);
    assert.deepEqual([...t.chains.keys()], ['SUBMARINER-POSTROUTING', 'SUBMARINER-INPUT']);
    assert.equal(t.chains.get('SUBMARINER-POSTROUTING')!.length, 2);
    assert.equal(t.chains.get('SUBMARINER-INPUT')!.length, 1);
  });

  it('in sync only with the same digest, both sets and every rule still there', () => {
    // nft -t prints sets without elements
    const terse = renderFirewall(fw).split('\n').slice(2).join('\n').replace(/ elements = \{[^}]*\};/g, '');
    const digest = /plan=(\w+)/.exec(terse)![1]!;
    const why = (f: PlannedFirewall, l: string | undefined): string => {
      const c = firewallChange(f, l);
      return c.kind === 'replace' ? c.why : c.kind;
    };
    assert.equal(why(fw, terse), 'none');
    assert.equal(why({ ...fw, remoteCidrs: ['10.246.0.0/16'] }, terse), 'plan changed');
    assert.equal(why(fw, undefined), 'absent');
    assert.equal(why(fw, listing('0000000000000000', ['a', 'b', 'c'])), 'plan changed');
    assert.equal(why(fw, listing(digest, [])), 'rules were changed');
    assert.equal(why(fw, terse.replace(/\tset SUBMARINER-REMOTECIDRS[^\n]*\n/, '')), 'a set is missing');
    const c = firewallChange(fw, undefined);
    assert.equal(c.kind === 'replace' && c.script, renderFirewall(fw));
  });
});

describe('routeagent VTEP derivation', () => {
  it('VTEP IP replaces the first octet by 240', () => {
    assert.equal(vtepIP('10.0.0.12'), '240.0.0.12');
    assert.equal(vtepIP('192.168.1.254'), '240.168.1.254');
  });

  it('VTEP MAC: locally administered unicast, carries all four octets', () => {
    assert.equal(vtepMac('10.0.0.12'), '02:68:0a:00:00:0c');
    assert.equal(vtepMac('192.168.1.254'), '02:68:c0:a8:01:fe');
    const first = parseInt(vtepMac('172.16.0.1').slice(0, 2), 16);
    assert.equal(first & 0x02, 0x02, 'locally administered bit set');
    assert.equal(first & 0x01, 0, 'not multicast');
  });

  it('no two node IPs share a MAC (even those sharing a VTEP IP, where Submariner #4024 collided)', () => {
    assert.notEqual(vtepMac('10.1.2.3'), vtepMac('11.1.2.3'));
    assert.equal(vtepIP('10.1.2.3'), vtepIP('11.1.2.3'));
    const seen = new Set<string>();
    for (let a = 0; a < 256; a += 17) for (let d = 0; d < 256; d++) seen.add(vtepMac(`${a}.${d}.${255 - d}.${d}`));
    assert.equal(seen.size, 16 * 256);
  });

  it('rejects a non-IPv4 node address', () => {
    assert.throws(() => vtepMac('fd00::1'), /not an IPv4 node address/);
    assert.throws(() => vtepIP('10.0.0'), /not an IPv4 node address/);
  });
});
