// The Submariner-like NAT discovery peer (submariner-peer.ts) as a process, for tests in namespaces:
//   ip netns exec NS node --import tsx submariner-peer-main.ts '<json>'
// {version, local: {clusterId, cableName, privateIP, publicIP}, bindIP, port, remote: {…, nattDiscoveryPort}}.
// Prints {"event":"ready"}, {"event":"asked","id":…} per request received (its receiver id), and
// {"event":"decided","info":{useIP,useNAT},"errors":[…]} once decided.
import { SubmarinerNatPeer, type PeerEndpoint, type SubmarinerVersion } from './submariner-peer.js';

interface Args {
  version: SubmarinerVersion;
  local: Omit<PeerEndpoint, 'nattDiscoveryPort'>;
  bindIP: string;
  port: number;
  remote: PeerEndpoint;
}
const a = JSON.parse(process.argv[2] ?? '{}') as Args;
const peer = new SubmarinerNatPeer(a.version, a.local, a.bindIP);
await peer.start(200, a.port);
process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
peer.addEndpoint(a.remote);
let printedAsks = 0;
let decided = false;
const timer = setInterval(() => {
  for (; printedAsks < peer.askedAs.length; printedAsks++) process.stdout.write(`${JSON.stringify({ event: 'asked', id: peer.askedAs[printedAsks] })}\n`);
  const info = peer.decision(a.remote.cableName);
  if (!info || decided) return;
  decided = true;
  process.stdout.write(`${JSON.stringify({ event: 'decided', info, errors: peer.errors })}\n`);
}, 20);
process.on('SIGTERM', () => {
  clearInterval(timer);
  void peer.stop().then(() => process.exit(0));
});
