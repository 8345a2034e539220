/** Child processes of the gateway benchmarks (bench and profile): started with tsx, killed at the end. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Every process started through {@link startChild}; the caller kills them when done. */
export const children: ChildProcess[] = [];

/** `node [nodeArgs] --import tsx <args>` from the repository root, with `env` added. */
export function startChild(
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
  stdout: 'pipe' | 'ignore' = 'pipe',
): ChildProcess {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', stdout, 'inherit'],
  });
  children.push(child);
  return child;
}

/** The first line a child prints (its ready message); rejects if it exits first. */
export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const nl = buffer.indexOf('\n');
      if (nl >= 0) resolve(buffer.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
}
