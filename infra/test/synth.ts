import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Aspects, cx_api } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type InfraConfig, parseInfraConfig } from '../lib/config.js';
import { RepositoriesStack } from '../lib/repositories-stack.js';
import { SupabaseStack } from '../lib/stack.js';

export interface Synthesized {
  readonly config: InfraConfig;
  /** The platform stack. */
  readonly template: Template;
  /** The image repositories stack, deployed before the platform. */
  readonly repositoriesTemplate: Template;
  readonly stack: SupabaseStack;
  /** Unsuppressed cdk-nag findings of both stacks as `<path> <rule>`. */
  readonly nagFindings: string[];
  /**
   * Unsuppressed findings of CDK's built-in CloudFormation template validation as `<rule> <path>`
   * (synth only prints them, as warnings).
   */
  readonly validationFindings: string[];
  readonly synthMs: number;
}

// biome-ignore lint/suspicious/noExplicitAny: tests edit the raw JSON before it is validated
type RawConfig = any;

function loadConfig(name: 'test' | 'production', adjust?: (raw: RawConfig) => void): InfraConfig {
  const raw = JSON.parse(readFileSync(new URL(`../config.${name}.json`, import.meta.url), 'utf8'));
  adjust?.(raw);
  return parseInfraConfig(raw);
}

/**
 * Synthesizes both stacks for one shipped config (changed by `adjust` first, if given) with
 * AwsSolutions checks — once per test file.
 */
export function synth(name: 'test' | 'production', adjust?: (raw: RawConfig) => void): Synthesized {
  const started = performance.now();
  const config = loadConfig(name, adjust);
  // The assembly (about 0.5 MB) is only read here: written to a directory of its own, removed after.
  const outdir = mkdtempSync(join(tmpdir(), 'cdk.out'));
  const app = new App({ outdir });
  try {
    const env = { account: config.account, region: config.region };
    const repositories = new RepositoriesStack(app, `${config.stackName}-Repositories`, { config, env });
    const stack = new SupabaseStack(app, config.stackName, {
      config,
      env,
      repositories: repositories.repositories,
    });
    Aspects.of(app).add(new AwsSolutionsChecks());
    const template = Template.fromStack(stack);
    const repositoriesTemplate = Template.fromStack(repositories);
    const nag = Match.stringLikeRegexp('AwsSolutions-');
    const nagFindings = [stack, repositories].flatMap((s) => {
      const annotations = Annotations.fromStack(s);
      return [...annotations.findError('*', nag), ...annotations.findWarning('*', nag)].map(
        (m) => `${m.id} ${String(m.entry.data).split(':')[0]}`,
      );
    });
    const report = JSON.parse(
      readFileSync(`${app.synth().directory}/${cx_api.VALIDATION_REPORT_FILE}`, 'utf8'),
    ) as {
      pluginReports: {
        violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
      }[];
    };
    const validationFindings = report.pluginReports.flatMap((r) =>
      r.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`)),
    );
    return {
      config,
      template,
      repositoriesTemplate,
      stack,
      nagFindings,
      validationFindings,
      synthMs: performance.now() - started,
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

type Resource = { Type: string; Properties?: Record<string, unknown>; [k: string]: unknown };

export function resourcesOf(template: Template, type?: string): [string, Resource][] {
  const all = Object.entries(template.toJSON()['Resources'] as Record<string, Resource>);
  return type ? all.filter(([, r]) => r.Type === type) : all;
}
