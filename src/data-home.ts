/**
 * Where qim keeps its files by default, as the XDG Base Directory rules say: `$XDG_DATA_HOME`
 * when it is an absolute path; unset, empty or relative (which the rules call invalid), the
 * default `~/.local/share`. An empty value taken as it is would put a user's identity key in
 * whatever folder the program was started from.
 */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

export function dataHome(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const given = env.XDG_DATA_HOME;
  return given !== undefined && given !== '' && isAbsolute(given) ? given : join(home, '.local', 'share');
}
