// The `hawser` executable: one binary, three DaemonSet roles and the operator tools.
import { ConfigError, ConfigErrors } from '../config/parse.js';
import { errorMessage } from '../util/errors.js';
import { isParseArgsError, UsageError, usageLine, USAGE_EXIT, wantsHelp } from './usage.js';

export type CommandRunner = (argv: string[]) => Promise<number>;

interface CommandEntry {
  summary: string;
  /** Every command module exports its USAGE: `--help` is answered here, before the command runs. */
  load: () => Promise<{ run: CommandRunner; USAGE: string }>;
}

// Loaded lazily: a role pulls in only what it needs.
const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  gateway: { summary: 'run the gateway engine (on submariner.io/gateway=true nodes)', load: () => import('./commands/gateway.js') },
  'route-agent': { summary: 'run the route agent (every node); --uninstall removes what it installed', load: () => import('./commands/route-agent.js') },
  globalnet: { summary: 'run Globalnet (gateway nodes, overlapping CIDRs)', load: () => import('./commands/globalnet.js') },
  apiserver: { summary: 'run the embedded Kubernetes API server', load: () => import('./commands/apiserver.js') },
  lab: { summary: 'build a netns lab of clusters: lab up|down|status|exec|demo', load: () => import('./commands/lab.js') },
  show: { summary: 'show all|connections|endpoints|gateways|networks|versions|brokers (every context), show plan (this node)', load: () => import('./commands/show.js') },
  diagnose: { summary: 'node|all|probe: what breaks cables, with firewall/MTU probes and what to do', load: () => import('./commands/diagnose.js') },
  version: { summary: 'print the version', load: () => import('./commands/version.js') },
  'deploy-broker': { summary: "create the broker and write broker-info.subm (subctl's format)", load: () => import('./commands/deploy-broker.js') },
  join: { summary: 'join this cluster with a broker-info.subm: writes (--apply: applies) a kustomize overlay', load: () => import('./commands/join.js') },
  migrate: { summary: 'replace Submariner in place (from its CR); --apply to do it', load: () => import('./commands/migrate.js') },
  rollback: { summary: 'undo hawser migrate: restore Submariner from what was saved', load: () => import('./commands/rollback.js') },
  uninstall: { summary: 'uninstall node|cluster|all: remove what hawser made, never the CRDs', load: () => import('./commands/uninstall.js') },
};

/** Submariner's operator runs its cleanup by starting a role with SUBMARINER_UNINSTALL=true: do the node cleanup instead. */
const ROLES_WITH_UNINSTALL = new Set(['gateway', 'route-agent', 'globalnet']);

function usage(): string {
  const lines = ['usage: hawser <command> [options]', '       hawser --version', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(13)} ${c.summary}`);
  lines.push('', 'hawser <command> --help shows the options of a command.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  if (!name) {
    process.stderr.write(usageLine('', 'missing command') + '\n');
    return USAGE_EXIT;
  }
  if (name === '--version') return (await COMMANDS.version!.load()).run(rest);
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(usageLine('', `unknown command ${JSON.stringify(name)}`) + '\n');
    return USAGE_EXIT;
  }
  const help = wantsHelp(rest);
  const uninstalling = !help && ROLES_WITH_UNINSTALL.has(name) && /^(true|1|yes)$/i.test(process.env.SUBMARINER_UNINSTALL?.trim() ?? '');
  try {
    // Help never runs anything (no daemon, no API call), whatever the environment says.
    if (help) {
      process.stdout.write((await entry.load()).USAGE.replace(/\n?$/, '\n'));
      return 0;
    }
    const mod = await (uninstalling ? COMMANDS.uninstall! : entry).load();
    return await mod.run(uninstalling ? ['node'] : rest);
  } catch (err) {
    if (err instanceof UsageError || isParseArgsError(err)) {
      process.stderr.write(usageLine(name, err.message) + '\n');
      return USAGE_EXIT;
    }
    // A checkout without `npm ci`, or an install without its node_modules (commands load their modules
    // lazily, so this surfaces here): say what to do, not a stack.
    if ((err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND') {
      process.stderr.write(`hawser ${name}: dependencies missing (${errorMessage(err).split('\n')[0]}): run \`make setup\` (an install: \`npm ci --omit=dev\`)\n`);
      return 1;
    }
    if (err instanceof ConfigError || err instanceof ConfigErrors) {
      const errs = err instanceof ConfigErrors ? err.errors : [err];
      for (const e of errs) process.stderr.write(`hawser ${name}: invalid configuration: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`hawser ${name}: ${errorMessage(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Roles keep running through their own handles; tools end here.
if (code !== 0 || !process.env.HAWSER_KEEP_ALIVE) process.exitCode = code;
