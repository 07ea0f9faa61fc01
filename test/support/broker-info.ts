// subctl's broker-info.subm, spelled out by hand: the install tests read it, and so may any test that joins a cluster.

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

/** What subctl (Go: json.Marshal of broker.Info, base64.URLEncoding) writes, spelled out by hand. */
export function subctlBrokerInfo(o: { url: string; token: string; ca: string; ns: string; psk: Buffer }): string {
  const json = `{"brokerURL":"${o.url}","ClientToken":{"metadata":{"name":"submariner-k8s-broker-admin-token","namespace":"${o.ns}","creationTimestamp":null},`
    + `"data":{"ca.crt":"${b64(o.ca)}","namespace":"${b64(o.ns)}","token":"${b64(o.token)}"},"type":"kubernetes.io/service-account-token"},`
    + `"IPSecPSK":{"metadata":{"name":"submariner-ipsec-psk","creationTimestamp":null},"data":{"psk":"${b64(o.psk)}"}},`
    + '"ServiceDiscovery":true,"Components":["service-discovery","connectivity"],"CustomDomains":null}';
  return Buffer.from(json).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

