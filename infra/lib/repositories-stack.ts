import { CfnOutput, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { InfraConfig } from './config.js';
import { EcrRepositories } from './constructs/ecr-repositories.js';
import { dataRemovalPolicy } from './removal-policy.js';

const SERVICES = ['gateway', 'tenant-manager'] as const;

interface RepositoriesStackProps extends StackProps {
  readonly config: InfraConfig;
}

/**
 * The ECR repositories, in a stack of their own: images must be pushed before the platform stack can
 * start its services, so this stack is deployed first (`<stackName>-Repositories`).
 */
export class RepositoriesStack extends Stack {
  readonly repositories: EcrRepositories;

  constructor(scope: Construct, id: string, props: RepositoriesStackProps) {
    super(scope, id, props);
    const c = props.config;
    for (const [key, value] of Object.entries(c.tags)) Tags.of(this).add(key, value);
    this.repositories = new EcrRepositories(this, 'Repositories', {
      namePrefix: c.namePrefix,
      services: SERVICES,
      removalPolicy: dataRemovalPolicy(c.dataRemovalPolicy),
    });
    new CfnOutput(this, 'GatewayRepositoryUri', {
      value: this.repositories.repository('gateway').repositoryUri,
      description: 'ECR repository of the gateway',
    });
    new CfnOutput(this, 'TenantManagerRepositoryUri', {
      value: this.repositories.repository('tenant-manager').repositoryUri,
      description: 'ECR repository of the tenant-manager',
    });
  }
}
