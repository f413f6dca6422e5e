import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ApiClient } from '../interfaces/cli/client.js';
import { isLoopbackAddress } from '../interfaces/http/host-check.js';
import { type ClientConfig, type Command, EXIT, type OptionValues } from '../interfaces/cli/command.js';
import { contextCommands } from '../interfaces/cli/commands/index.js';
import { eventLine } from '../interfaces/cli/event-line.js';
import { runCli } from '../interfaces/cli/main.js';
import { releasesApi } from '../interfaces/http/contract/releases.js';
import { isAlive } from '../platform/durable-run.js';
import { PRIVATE_UMASK } from '../platform/files.js';
import { loadConfig, type SluiceConfig } from './config.js';
import { downSluice, OPERATOR_KEY_FILE, SLUICE_VERSION, startSluice } from './single-node.js';

/** Sluice's own environment, from which workloads get only an allow-list (see `workloadEnv`). */
function hostEnv(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

function serverConfig(o: OptionValues, env: Record<string, string | undefined>, cwd: string): SluiceConfig {
  return loadConfig({
    env,
    cwd,
    argv: {
      ...(o.dir ? { dir: o.dir } : {}),
      ...(o.file ? { file: o.file } : {}),
      ...(o.config ? { config: o.config } : {}),
      ...(o['data-dir'] ? { dataDir: o['data-dir'] } : {}),
      ...(o['database-url'] ? { databaseUrl: o['database-url'] } : {}),
      ...(o.host ? { host: o.host } : {}),
      ...(o['api-host'] ? { apiHost: o['api-host'] } : {}),
      ...(o['api-allowed-host'] ? { apiAllowedHosts: o['api-allowed-host'] } : {}),
      ...(o.port ? { port: o.port } : {}),
      ...(o['router-port'] ? { routerPort: o['router-port'] } : {}),
      ...(o['flags-port'] ? { flagsPort: o['flags-port'] } : {}),
      ...(o['max-connections'] ? { maxConnections: o['max-connections'] } : {}),
      ...(o['keep-releases'] !== undefined ? { keepReleases: o['keep-releases'] } : {}),
      ...(o['secrets-key-file'] ? { secretsKeyFile: o['secrets-key-file'] } : {}),
    },
  });
}

/** Where the CLI's server is: --url, SLUICE_URL, the running `sluice up` of the data directory, else the configured port. */
function clientConfig(o: OptionValues, env: Record<string, string | undefined>, cwd: string): ClientConfig {
  const c = serverConfig(o, env, cwd);
  let running: string | undefined;
  try {
    const a = JSON.parse(readFileSync(join(c.dataDir, 'api.json'), 'utf8')) as { url?: string; pid?: number };
    if (typeof a.url === 'string' && typeof a.pid === 'number' && isAlive(a.pid)) running = a.url;
  } catch {
    // no sluice up has written it
  }
  let token = o.token ?? env.SLUICE_TOKEN;
  if (!token) {
    try {
      token = readFileSync(join(c.dataDir, 'admin-token'), 'utf8').trim();
    } catch {
      // read-only commands need no token
    }
  }
  const apiUrl = o.url ?? (env.SLUICE_URL || undefined) ?? running ?? `http://${c.host}:${c.apiPort}`;
  // The operator key goes only to the server it belongs to: the one this data directory says is running.
  let operatorKey: string | undefined;
  if (running !== undefined && apiUrl.replace(/\/$/, '') === running) {
    try {
      operatorKey = readFileSync(join(c.dataDir, OPERATOR_KEY_FILE), 'utf8').trim();
    } catch {
      // a server started before operator keys, or a data directory this user cannot read
    }
  }
  return {
    appDir: c.appDir,
    pipelineFile: c.pipelineFile,
    pipelineLimits: c.pipelineLimits,
    dataDir: c.dataDir,
    apiUrl,
    token,
    ...(operatorKey ? { operatorKey } : {}),
  };
}

const systemCommands: Command[] = [
  {
    name: 'up',
    args: '',
    summary: 'run the control plane (API, engine, store) here, and start or adopt the data plane (router) beside it',
    min: 0,
    max: 0,
    options: ['release', 'database-url', 'host', 'api-host', 'api-allowed-host', 'port', 'router-port', 'flags-port', 'max-connections', 'keep-releases', 'secrets-key-file'],
    async run(ctx) {
      const { st } = ctx;
      const config = serverConfig(ctx.opts, ctx.env, ctx.cwd);
      // What sluice up creates (the database, keys, logs, state) is for its user only; workloads get the usual umask.
      process.umask(PRIVATE_UMASK);
      const s = await startSluice(config, {
        env: hostEnv(ctx.env),
        onError: (e) => ctx.err(st.red(`engine error: ${(e as Error).stack ?? e}`)),
        onNotice: (line) => ctx.err(st.yellow(line)),
      });
      ctx.out(st.bold(`sluice ${SLUICE_VERSION} is up`) + st.dim(` (${config.databaseUrl ? 'PostgreSQL' : `PGlite in ${config.dataDir}`})`));
      ctx.out(`  api     ${s.apiUrl}   (OpenAPI: ${s.apiUrl}/api/openapi.json)`);
      if (!isLoopbackAddress(config.apiHost))
        ctx.out(
          st.dim(`          listening on ${config.apiHost}: reads need a token too; it answers to the hosts localhost, 127.0.0.1, [::1]${config.apiAllowedHosts.map((h) => `, ${h}`).join('')} (--api-allowed-host)`),
        );
      ctx.out(
        `  dashboard ${s.dashboard.url}   ${st.dim(s.dashboard.built ? '(log in with a token: the admin token below, or one from sluice token create)' : '(not built: npm run build:web, then reload)')}`,
      );
      ctx.out(`  router  http://<stage>.<app>.localhost:${s.routerPort}   (data plane pid ${s.dataPlane.pid}, ${s.dataPlane.adopted ? 'adopted: it kept serving' : 'started'})`);
      ctx.out(`  flags   http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${s.flagsPort}/ofrep/v1   (OFREP, the stream /flags/v1/stream and the sync feed /flags/v1/sync, served by the data plane)`);
      if (s.newAdminToken)
        ctx.out(`  admin token ${st.bold(s.newAdminToken)}  ${st.dim(`(saved to ${join(config.dataDir, 'admin-token')}; the CLI reads it from there)`)}`);
      ctx.out(st.dim('  Ctrl-C stops the control plane only: the router and the app instances keep serving. `sluice down` stops them too.'));
      const versions = new Map<string, string>();
      s.events.subscribe((e) => {
        if (e.type === 'journey.created') versions.set(e.journeyId, e.release.version);
        ctx.out(eventLine(st, e, (id) => versions.get(id) ?? s.executor.get(id)?.release.version ?? id));
      });
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        // `sluice down` leaves its stop file before it stops us: then the data plane is going too.
        const down = existsSync(join(config.dataDir, 'dataplane', 'stop'));
        ctx.out(st.dim(down ? 'stopping: sluice down stops the data plane and the instances too…' : 'stopping the control plane; the data plane keeps serving…'));
        await s.close();
        process.exit(EXIT.ok);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
      const release = ctx.opts.release;
      if (release) {
        const token = s.newAdminToken ?? readFileSync(join(config.dataDir, 'admin-token'), 'utf8').trim();
        ctx.out(st.dim(`creating release ${release}…`));
        try {
          const r = await new ApiClient(s.apiUrl, token).call(releasesApi.create, { body: { version: release } });
          const where = [`--dir ${relative(ctx.cwd, config.appDir) || '.'}`, ...(ctx.opts.file ? [`--file ${ctx.opts.file}`] : []), ...(ctx.opts['data-dir'] ? [`--data-dir ${ctx.opts['data-dir']}`] : [])];
          ctx.out(`release ${release} ${r.created ? 'created' : 'already exists'} (${r.release.digest}); watch it with: npx sluice status ${where.join(' ')}`);
        } catch (e) {
          ctx.err(st.red(`release ${release}: ${(e as Error).message}`));
        }
      }
      await new Promise(() => {});
      return EXIT.ok;
    },
  },
  {
    name: 'down',
    args: '',
    summary: 'stop everything of the data directory: the control plane if it runs, the data plane (router) and every app instance',
    min: 0,
    max: 0,
    async run(ctx) {
      const c = serverConfig(ctx.opts, ctx.env, ctx.cwd);
      const r = await downSluice(c.dataDir);
      ctx.print(r, `${ctx.st.green('✓')} stopped ${[r.controlPlane ? 'the control plane' : '', r.dataPlane ? 'the data plane' : '', `${r.instances} app instance(s)`].filter(Boolean).join(', ')} of ${c.dataDir}`);
      return EXIT.ok;
    },
  },
];

/** The sluice command. */
export function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  return runCli(argv, env, { version: SLUICE_VERSION, commands: [systemCommands[0]!, systemCommands[1]!, ...contextCommands], config: clientConfig });
}
