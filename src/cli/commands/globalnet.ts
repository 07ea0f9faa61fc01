// `hawser globalnet`: Globalnet on gateway nodes (overlapping CIDRs). Runs until SIGTERM/SIGINT; the
// nftables table stays in place on exit so traffic keeps flowing across a restart.
// Its modules load only after the arguments are checked (`--help` stays quick and light).
import { UsageError } from '../usage.js';

export const USAGE = `usage: hawser globalnet [--kubeconfig PATH] [--netns NAME] [--no-election] [--uninstall]

  --kubeconfig PATH  API server access (default: KUBECONFIG, in-cluster, ~/.kube/config)
  --netns NAME       program nftables in this network namespace (default: the current one)
  --no-election      act without the submariner-globalnet-lock Lease (a single instance only)
  --uninstall        remove hawser's Globalnet nftables table and exit

Environment: SUBMARINER_NAMESPACE, SUBMARINER_CLUSTERID, NODE_NAME, SUBMARINER_GLOBALCIDR (required);
SUBMARINER_CLUSTERCIDR / SUBMARINER_SERVICECIDR (else read from the local Cluster object),
SUBMARINER_METRICSPORT (32781), HAWSER_LEASE_DURATION / HAWSER_RENEW_DEADLINE / HAWSER_RETRY_PERIOD.`;

interface Flags {
  kubeconfig?: string;
  netns?: string;
  election: boolean;
  uninstall: boolean;
}

function parseFlags(argv: string[]): Flags | string {
  const f: Flags = { election: true, uninstall: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string | undefined => argv[++i];
    if (a === '--kubeconfig') f.kubeconfig = value();
    else if (a === '--netns') f.netns = value();
    else if (a === '--no-election') f.election = false;
    else if (a === '--uninstall') f.uninstall = true;
    else if (a === '-h' || a === '--help') return '';
    else return `unknown argument ${JSON.stringify(a)}`;
    if ((a === '--kubeconfig' || a === '--netns') && !(a === '--kubeconfig' ? f.kubeconfig : f.netns)) return `${a} needs a value`;
  }
  return f;
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  if (typeof flags === 'string') {
    if (!flags) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    throw new UsageError(flags);
  }
  const { NftDataplane } = await import('../../nat/nft.js');
  if (flags.uninstall) {
    await new NftDataplane({ netns: flags.netns }).remove();
    process.stdout.write('removed table ip hawser-globalnet\n');
    return 0;
  }
  const [{ globalnetConfigFromEnv }, { localAccess }, { initLogger }, { startGlobalnet }, { hawserVersion }] = await Promise.all([
    import('../../config/roles.js'),
    import('../../k8s/access.js'),
    import('../../log/index.js'),
    import('../../nat/role.js'),
    import('./version.js'),
  ]);
  const cfg = globalnetConfigFromEnv(process.env);
  // LOG_LEVEL, SUBMARINER_DEBUG and SUBMARINER_VERBOSITY pick the level.
  const log = initLogger({ component: 'globalnet', base: { cluster: cfg.clusterId, node: cfg.nodeName } });
  for (const w of cfg.warnings) log.warn(w);
  if (cfg.uninstall) {
    // SUBMARINER_UNINSTALL=true: the same as --uninstall.
    await new NftDataplane({ netns: flags.netns }).remove();
    log.info('SUBMARINER_UNINSTALL: removed table ip hawser-globalnet');
    return 0;
  }
  const role = await startGlobalnet(cfg, {
    kubeConfig: await localAccess(flags.kubeconfig),
    ...(flags.netns ? { netns: flags.netns } : {}),
    leader: flags.election ? 'election' : 'always',
    version: hawserVersion(),
    log,
  });
  await new Promise<void>((resolve) => {
    const done = (sig: string): void => {
      log.info({ signal: sig }, 'shutting down (the nftables table stays until the next leader replaces it)');
      resolve();
    };
    process.once('SIGTERM', () => done('SIGTERM'));
    process.once('SIGINT', () => done('SIGINT'));
  });
  await role.stop();
  return 0;
}
