#!/usr/bin/env -S npx tsx
import { readFileSync } from 'node:fs';
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { InfraConfigError, parseInfraConfig } from '../lib/config.js';
import { RepositoriesStack } from '../lib/repositories-stack.js';
import { SupabaseStack } from '../lib/stack.js';

// infra/config.json is a git-ignored copy of config.test.json or config.production.json;
// CONFIG=<path> picks another file.
const configPath = process.env['CONFIG'] ?? new URL('../config.json', import.meta.url).pathname;

let raw: unknown;
try {
  raw = JSON.parse(readFileSync(configPath, 'utf8'));
} catch (error) {
  console.error(`cannot read ${configPath}: ${(error as Error).message}`);
  console.error('copy infra/config.test.json or infra/config.production.json to infra/config.json');
  process.exit(1);
}

try {
  const config = parseInfraConfig(raw);
  const app = new App();
  const env = { account: config.account, region: config.region };
  // Deployed first, so that build-and-push.sh has somewhere to push before the services start; the
  // platform stack imports the repositories, which makes CDK deploy them in that order.
  const repositories = new RepositoriesStack(app, `${config.stackName}-Repositories`, {
    config,
    env,
    description: `Supaplane image repositories (${config.namePrefix})`,
  });
  new SupabaseStack(app, config.stackName, {
    config,
    env,
    repositories: repositories.repositories,
    description: `Supaplane platform (${config.namePrefix})`,
  });
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  app.synth();
} catch (error) {
  if (error instanceof InfraConfigError) {
    console.error(`${configPath}: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
