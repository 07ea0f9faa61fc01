// Per-cluster credentials: a CA and API server certificate (openssl), the token file the API server
// reads, admin kubeconfigs (one for inside the lab, one for the host via the port forwarder), and the
// random secrets of a lab (PSK, tokens).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { exec } from '../util/exec.js';
import { BROKER_NAMESPACE, type ClusterPlan, type LabSecrets, type LabTopology } from './topology.js';

export function generateSecrets(clusterIds: readonly string[]): LabSecrets {
  const token = (): string => randomBytes(24).toString('base64url');
  return {
    // Submariner's PSK is 64 random bytes, base64-encoded.
    psk: randomBytes(64).toString('base64'),
    adminTokens: Object.fromEntries(clusterIds.map((id) => [id, token()])),
    brokerTokens: Object.fromEntries(clusterIds.map((id) => [id, token()])),
  };
}

/** The ServiceAccount user a cluster's gateways authenticate as on the broker. */
export function brokerUser(clusterId: string): string {
  return `system:serviceaccount:${BROKER_NAMESPACE}:${brokerServiceAccount(clusterId)}`;
}

export function brokerServiceAccount(clusterId: string): string {
  // `cluster-<id>`, as subctl names it: deploy/broker/policy.yaml reads the cluster ID from this name
  return `cluster-${clusterId}`;
}

/** Token file for one cluster's API server: admin (system:masters), plus the broker users on the broker cluster. */
export function tokenFileText(t: LabTopology, c: ClusterPlan, s: LabSecrets): string {
  const tokens: { token: string; user: string; groups: string[] }[] = [
    { token: s.adminTokens[c.id]!, user: 'lab-admin', groups: ['system:masters'] },
  ];
  if (c.id === t.brokerCluster) {
    for (const other of t.clusters) {
      tokens.push({ token: s.brokerTokens[other.id]!, user: brokerUser(other.id), groups: ['system:serviceaccounts', `system:serviceaccounts:${BROKER_NAMESPACE}`] });
    }
  }
  return stringify({ tokens });
}

export function kubeconfigText(c: ClusterPlan, server: string, caPem: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: c.id, cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: `admin@${c.id}`, user: { token } }],
    contexts: [{ name: c.id, context: { cluster: c.id, user: `admin@${c.id}` } }],
    'current-context': c.id,
  });
}

/**
 * The cluster's CA (ca.crt/ca.key in the API server's --tls-dir). The API server signs its own serving
 * certificate with it (for its listen address, 127.0.0.1 and localhost); making the CA here lets the
 * kubeconfigs and BROKER_K8S_CA be written before the server starts.
 */
export async function makeCa(c: ClusterPlan): Promise<void> {
  mkdirSync(c.tlsDir, { recursive: true, mode: 0o700 });
  const d = c.tlsDir;
  await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${d}/ca.key`, '-out', `${d}/ca.crt`,
    '-days', '30', '-subj', `/CN=hawser-lab-${c.id}-ca`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

/** Writes TLS material, the token file and the in-lab kubeconfig for every cluster. */
export async function writeClusterFiles(t: LabTopology, s: LabSecrets): Promise<void> {
  await Promise.all(t.clusters.map(async (c) => {
    mkdirSync(c.dataDir, { recursive: true, mode: 0o700 });
    await makeCa(c);
    writeFileSync(c.tokenFile, tokenFileText(t, c, s), { mode: 0o600 });
    const ca = readFileSync(`${c.tlsDir}/ca.crt`, 'utf8');
    writeFileSync(c.kubeconfig, kubeconfigText(c, `https://${c.apiServer}`, ca, s.adminTokens[c.id]!), { mode: 0o600 });
  }));
}

/** The host kubeconfig, once the forwarder has its loopback port. */
export function writeHostKubeconfig(c: ClusterPlan, port: number, s: LabSecrets): void {
  const ca = readFileSync(`${c.tlsDir}/ca.crt`, 'utf8');
  writeFileSync(c.hostKubeconfig, kubeconfigText(c, `https://127.0.0.1:${port}`, ca, s.adminTokens[c.id]!), { mode: 0o600 });
}
