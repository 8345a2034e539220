import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

/** Whether process `pid` exists (signal 0; EPERM means it does, owned by someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Program name, state and parent pid of a process from `/proc` (Linux), else undefined. */
async function inspect(pid: number): Promise<{ program: string; state: string; parent: number } | undefined> {
  const [stat, cmdline] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined),
    readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined),
  ]);
  if (stat === undefined || cmdline === undefined) return undefined;
  const [state = '', parent = ''] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // argv[0]; redis-server retitles itself to "redis-server <address>" in that one argument.
  const program = basename(cmdline.split('\0')[0] ?? '').split(' ')[0] ?? '';
  return { program, state, parent: Number(parent) };
}

/**
 * What a server pid recorded by an earlier start (with `owner`, the pid of the process that started
 * it, or 0 when unknown) names now. PostgreSQL and redis-server both decide by this one rule whether a
 * server a crashed stack left behind may be stopped, choosing safety over tidiness:
 * - `gone`: no such process, or a zombie: nothing to stop. Signal 0 tells without /proc, so a start is
 *   never refused over a pid that is clearly dead.
 * - `other`: alive but not `program` (the pid was reused, e.g. after a reboot): the record is stale.
 * - `owned`: `program`, still the child of `owner` (with no owner known: not adopted by init): in use.
 * - `orphan`: `program`, re-parented away from `owner` (it died without stopping it): safe to stop.
 * - `unknown`: alive, but /proc cannot be read (not Linux, or hidden), so neither its program nor its
 *   parent is known: never stopped or taken over, since it may not be ours.
 */
export async function recordedServer(
  pid: number,
  owner: number,
  program: string,
): Promise<'gone' | 'other' | 'owned' | 'orphan' | 'unknown'> {
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return 'gone';
  const proc = await inspect(pid);
  if (!proc) return 'unknown';
  if (proc.state === 'Z') return 'gone'; // exited; whatever adopted it reaps it, maybe late
  if (proc.program !== program) return 'other';
  const orphaned = owner > 0 ? proc.parent !== owner : proc.parent === 1;
  return orphaned ? 'orphan' : 'owned';
}
