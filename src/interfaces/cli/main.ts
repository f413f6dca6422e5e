import { parseArgs } from 'node:util';
import { isSluiceError } from '../../kernel/errors.js';
import { closest } from '../../kernel/suggest.js';
import { ApiClient, Unreachable } from './client.js';
import { type ClientConfig, type CliContext, type Command, EXIT, GLOBAL_OPTIONS, OPTIONS, type OptionName, type OptionValues } from './command.js';
import { makeStyle } from './style.js';

export interface CliSetup {
  version: string;
  commands: Command[];
  /** Resolves where the app, its data and its server are, from the options and the environment. */
  config: (opts: OptionValues, env: Record<string, string | undefined>, cwd: string) => ClientConfig;
}

/** A usage error: exit code 2, with the command's usage line. */
export class UsageError extends Error {}

function usageOf(c: Command): string {
  return `sluice ${c.name}${c.args ? ` ${c.args}` : ''}${(c.options ?? []).map((o) => ` [--${o}${OPTIONS[o].type === 'string' ? ' …' : ''}]`).join('')}`;
}

/** The help text, made from the table of commands. */
function helpText(s: CliSetup): string {
  const rows = s.commands.map((c) => [`${c.name}${c.args ? ` ${c.args}` : ''}`, c.summary]);
  const w = Math.min(40, Math.max(...rows.map((r) => r[0]!.length)) + 2);
  const opts = GLOBAL_OPTIONS.map((o) => `  --${o.padEnd(12)} ${OPTIONS[o].help}`);
  return `sluice ${s.version}: build once, promote through stages

Usage: sluice <command> [options]        sluice <command> --help for its options

Commands
${rows.map(([a, b]) => `  ${a!.padEnd(w)}${a!.length >= w ? `\n  ${' '.repeat(w)}` : ''}${b}`).join('\n')}

Options for every command
${opts.join('\n')}

Exit codes: 0 done, 1 failed, 2 usage, 3 server unreachable, 4 inconclusive, 5 waits for a person.`;
}

function commandHelp(c: Command): string {
  const opts = [...(c.options ?? []), ...GLOBAL_OPTIONS].map((o) => `  --${o.padEnd(16)} ${OPTIONS[o].help}`);
  return `${usageOf(c)}\n\n${c.summary}\n\nOptions\n${opts.join('\n')}`;
}

/** Finds the command (one or two words) and checks options and arguments against it. */
function resolve(argv: string[], s: CliSetup): { cmd: Command | undefined; args: string[]; opts: OptionValues } {
  const all = Object.fromEntries(Object.entries(OPTIONS).map(([k, v]) => [k, { type: v.type, ...('short' in v ? { short: v.short } : {}) }]));
  const loose = parseArgs({ args: argv, options: all, allowPositionals: true, strict: false, tokens: true });
  const pos = loose.positionals;
  const byName = new Map(s.commands.map((c) => [c.name, c]));
  let cmd: Command | undefined;
  let skip = 0;
  if (pos.length >= 2 && byName.has(`${pos[0]} ${pos[1]}`)) [cmd, skip] = [byName.get(`${pos[0]} ${pos[1]}`), 2];
  else if (pos.length >= 1 && byName.has(pos[0]!)) [cmd, skip] = [byName.get(pos[0]!), 1];
  else if (pos[0] === 'help' || pos[0] === 'version') {
    // `sluice help [command]` and `sluice version`, as their flags.
    const rest = pos.slice(1).join(' ');
    const about = byName.get(rest) ?? byName.get(pos[1] ?? '');
    return { cmd: about, args: [], opts: { ...(loose.values as OptionValues), [pos[0]]: true } };
  } else if (pos.length >= 1) {
    const groups = s.commands.filter((c) => c.name.startsWith(`${pos[0]} `));
    if (groups.length) {
      const subs = groups.map((c) => c.name.split(' ')[1]!);
      const hint = pos[1] ? closest(pos[1], subs) : undefined;
      const given = pos[1] ? ` (not "${pos[1]}"${hint ? `; did you mean "${hint}"?` : ''})` : '';
      throw new UsageError(`"${pos[0]}" needs one of: ${subs.join(', ')}${given}\nusage: ${groups.map(usageOf).join('\n       ')}`);
    }
    const hint = closest(pos[0]!, [...byName.keys()].map((n) => n.split(' ')[0]!));
    throw new UsageError(`unknown command "${pos[0]}"${hint ? ` (did you mean "${hint}"?)` : ''}; run sluice --help`);
  }
  const allowed = new Set<string>([...GLOBAL_OPTIONS, 'version', ...(cmd?.options ?? [])]);
  for (const t of loose.tokens ?? []) {
    if (t.kind !== 'option') continue;
    if (!allowed.has(t.name)) {
      const hint = closest(t.name, allowed);
      throw new UsageError(`${cmd ? `sluice ${cmd.name}` : 'sluice'} takes no option ${t.rawName}${hint ? ` (did you mean --${hint}?)` : ''}${cmd ? `\nusage: ${usageOf(cmd)}` : ''}`);
    }
    const want = OPTIONS[t.name as OptionName].type;
    if (want === 'string' && t.value === undefined) throw new UsageError(`${t.rawName} needs a value`);
    if (want === 'boolean' && t.value !== undefined && t.inlineValue) throw new UsageError(`${t.rawName} takes no value`);
  }
  const args = pos.slice(skip);
  // --help shows a command's usage whatever arguments came with it.
  if (cmd && !loose.values.help && (args.length < cmd.min || args.length > cmd.max)) {
    const names = cmd.args.match(/<[^>]+>|\[[^\]]+\]/g) ?? [];
    const problem =
      args.length < cmd.min
        ? `needs ${names.slice(args.length, cmd.min).join(' ')}`
        : cmd.max === 0
          ? `takes no arguments; unexpected: ${args.join(' ')}`
          : `takes at most ${cmd.max} argument(s); unexpected: ${args.slice(cmd.max).join(' ')}`;
    throw new UsageError(`sluice ${cmd.name} ${problem}\nusage: ${usageOf(cmd)}`);
  }
  return { cmd, args, opts: loose.values as OptionValues };
}

/** Runs one CLI invocation; resolves with the exit code. */
export async function runCli(argv: string[], env: Record<string, string | undefined>, s: CliSetup): Promise<number> {
  const colour = !env.NO_COLOR && !argv.includes('--no-color') && process.stdout.isTTY === true;
  const st = makeStyle(colour);
  const err = (x: string) => process.stderr.write(`${x}\n`);
  let parsed: ReturnType<typeof resolve>;
  try {
    parsed = resolve(argv, s);
  } catch (e) {
    err(st.red(`sluice: ${(e as Error).message}`));
    return EXIT.usage;
  }
  const { cmd, args, opts } = parsed;
  const out = (x: string) => process.stdout.write(`${x}\n`);
  if (opts.version) {
    out(s.version);
    return EXIT.ok;
  }
  if (!cmd) {
    out(helpText(s));
    return opts.help ? EXIT.ok : EXIT.usage;
  }
  if (opts.help) {
    out(commandHelp(cmd));
    return EXIT.ok;
  }
  const cwd = process.cwd();
  let config: ClientConfig | undefined;
  const ctx: CliContext = {
    env,
    cwd,
    out,
    err,
    write: (chunk) => process.stdout.write(chunk),
    st,
    opts,
    config: () => (config ??= s.config(opts, env, cwd)),
    client: () => new ApiClient(ctx.config().apiUrl.replace(/\/$/, ''), ctx.config().token, ctx.config().operatorKey),
    print: (json, text) => out(opts.json ? JSON.stringify(json, null, 2) : text),
  };
  try {
    return await cmd.run(ctx, args);
  } catch (e) {
    if (e instanceof UsageError) {
      err(st.red(`sluice: ${e.message}\nusage: ${usageOf(cmd)}`));
      return EXIT.usage;
    }
    if (e instanceof Unreachable) {
      err(st.red(`sluice: ${e.message}`));
      return EXIT.unreachable;
    }
    if (isSluiceError(e)) {
      const hint =
        e.code === 'UNAUTHORIZED' && !ctx.config().token
          ? ` (no token was found: pass --token, set SLUICE_TOKEN, or run from the app whose data directory holds admin-token; the server is ${ctx.config().apiUrl})`
          : '';
      if (opts.json) out(JSON.stringify({ code: e.code, message: e.message + hint, details: e.details }, null, 2));
      else err(st.red(`sluice: ${e.message}${hint}`));
      return EXIT.failed;
    }
    err(st.red(`sluice: unexpected error: ${(e as Error).stack ?? String(e)}`));
    return EXIT.failed;
  }
}
