import assert from 'node:assert/strict';
import { it } from 'node:test';
import { hostAllowed, workloadEnv } from './workload-env.js';

const host = {
  PATH: '/usr/bin:/bin',
  HOME: '/home/op',
  USER: 'op',
  LOGNAME: 'op',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  LC_TIME: 'en_GB.UTF-8',
  TZ: 'UTC',
  TMPDIR: '/tmp',
  DATABASE_URL: 'postgres://sluice:hunter2@db/sluice',
  AWS_SECRET_ACCESS_KEY: 'cloud-key',
  SLUICE_SECRETS_KEY: 'the-key',
  SLUICE_TOKEN: 'a-token',
  NODE_OPTIONS: '--require /tmp/evil.js',
  LD_PRELOAD: '/tmp/evil.so',
  UNSET: undefined,
};

it('a workload gets the allow-list of Sluice\'s environment and nothing else of it', () => {
  assert.deepEqual(workloadEnv({ host }), {
    PATH: '/usr/bin:/bin',
    HOME: '/home/op',
    USER: 'op',
    LOGNAME: 'op',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    LC_TIME: 'en_GB.UTF-8',
    TZ: 'UTC',
    TMPDIR: '/tmp',
  });
  for (const name of ['DATABASE_URL', 'AWS_SECRET_ACCESS_KEY', 'SLUICE_SECRETS_KEY', 'SLUICE_TOKEN', 'NODE_OPTIONS', 'LD_PRELOAD', 'LC_', 'lc_all', 'PATH2'])
    assert.equal(hostAllowed(name), false, name);
});

it('the stage env, then its secrets, then what Sluice sets win over the allow-list', () => {
  const env = workloadEnv({
    host,
    stageEnv: { GREETING: 'hi', TZ: 'Europe/Paris', DB_PASSWORD: 'from-env' },
    secrets: { DB_PASSWORD: 's3cret' },
    sluice: { SLUICE_STAGE: 'prod', PORT: '4000', TZ: 'x' },
  });
  assert.equal(env.GREETING, 'hi');
  assert.equal(env.DB_PASSWORD, 's3cret');
  assert.equal(env.SLUICE_STAGE, 'prod');
  assert.equal(env.PORT, '4000');
  assert.equal(env.TZ, 'x');
  assert.equal(env.DATABASE_URL, undefined);
  assert.equal(env.SLUICE_SECRETS_KEY, undefined);
});

it('SLUICE_* reaches a workload only when Sluice sets it for the workload', () => {
  const env = workloadEnv({ host: { SLUICE_STAGE: 'inherited', SLUICE_URL: 'http://x' }, sluice: { SLUICE_RELEASE_VERSION: '1.0.0' } });
  assert.deepEqual(env, { SLUICE_RELEASE_VERSION: '1.0.0' });
});

it('prototype names are plain variables', () => {
  const env = workloadEnv({ host: {}, stageEnv: { ['__proto__']: 'p', constructor: 'c' } as Record<string, string> });
  assert.equal(Object.getPrototypeOf(env), Object.prototype);
  assert.equal(env.constructor, 'c');
});
