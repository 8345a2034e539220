import { Duration, RemovalPolicy, aws_ecr as ecr } from 'aws-cdk-lib';
import { Construct } from 'constructs';

interface EcrRepositoriesProps {
  /** Prefix of the repository names (`<prefix>/<service>`). */
  readonly namePrefix: string;
  /** Services that get a repository. */
  readonly services: readonly string[];
  /** What happens to the repositories when the stack is deleted. Default RETAIN. */
  readonly removalPolicy?: RemovalPolicy;
  /** Untagged images are expired after this many days. Default 14. */
  readonly untaggedImageDays?: number;
}

/** One ECR repository per deployable service: scan on push, encrypted, old untagged images expired. */
export class EcrRepositories extends Construct {
  readonly repositories: ReadonlyMap<string, ecr.Repository>;

  constructor(scope: Construct, id: string, props: EcrRepositoriesProps) {
    super(scope, id);
    const repositories = new Map<string, ecr.Repository>();
    for (const service of props.services) {
      repositories.set(
        service,
        new ecr.Repository(this, service, {
          repositoryName: `${props.namePrefix}/${service}`,
          imageScanOnPush: true,
          encryption: ecr.RepositoryEncryption.KMS,
          // `latest` is moved on every push; the git-SHA tags are what deployments pin.
          imageTagMutability: ecr.TagMutability.MUTABLE,
          removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
          // CloudFormation deletes only empty repositories: one the stack may delete goes with its images.
          emptyOnDelete: props.removalPolicy === RemovalPolicy.DESTROY,
          lifecycleRules: [
            { tagStatus: ecr.TagStatus.UNTAGGED, maxImageAge: Duration.days(props.untaggedImageDays ?? 14) },
          ],
        }),
      );
    }
    this.repositories = repositories;
  }

  repository(service: string): ecr.Repository {
    const repository = this.repositories.get(service);
    if (!repository) throw new Error(`no ECR repository for ${service}`);
    return repository;
  }
}
