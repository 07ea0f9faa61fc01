// inotify instances for the soak's wireguard-go: each takes one for its UAPI socket and exits with "too many open
// files" without it. The limit (fs.inotify.max_user_instances, 128 by default) is per user, so another lab's many
// wireguard-go on this machine (bench/scale's 200 simulated remotes, or a lab left behind) starve ours.
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';

const MAX_INSTANCES = '/proc/sys/fs/inotify/max_user_instances';

/** inotify instances open on this machine and the limit; undefined when /proc cannot say. */
export function inotifyUse(): { used: number; max: number } | undefined {
  try {
    const max = Number(readFileSync(MAX_INSTANCES, 'utf8').trim());
    let used = 0;
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:inotify') used++;
        } catch {
          // closed meanwhile
        }
      }
    }
    return Number.isFinite(max) ? { used, max } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes room for `need` more instances (the soak's six wireguard-go, their restarts and the roles' watchers) by
 * raising the limit when the machine is short, and returns what puts it back. Put back only if nobody changed it
 * meanwhile and the instances then open fit under the old limit: lowering it under another run's feet would make
 * that run's next wireguard-go fail as ours did.
 */
export function ensureInotifyRoom(need: number, log: (line: string) => void): () => void {
  const use = inotifyUse();
  if (!use || use.max - use.used >= need) return () => undefined;
  const raised = use.used + need;
  writeFileSync(MAX_INSTANCES, `${raised}\n`);
  log(`${use.used} inotify instances in use against fs.inotify.max_user_instances ${use.max} (another lab's wireguard-go?): raised it to ${raised} for this run`);
  return () => {
    const now = inotifyUse();
    if (!now || now.max !== raised) return;
    if (now.used > use.max) {
      log(`fs.inotify.max_user_instances left at ${raised}: ${now.used} instances are open, more than the old ${use.max}`);
      return;
    }
    writeFileSync(MAX_INSTANCES, `${use.max}\n`);
    log(`fs.inotify.max_user_instances put back to ${use.max}`);
  };
}
