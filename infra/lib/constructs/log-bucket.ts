import { Duration, RemovalPolicy, aws_s3 as s3 } from 'aws-cdk-lib';
import { Construct } from 'constructs';

interface LogBucketProps {
  /** Days before log objects expire. Default 90. */
  readonly expirationDays?: number;
  /** What happens to the bucket when the stack is deleted (DESTROY empties it first). Default RETAIN. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Bucket for ALB and S3 server access logs. SSE-S3 because ALB log delivery does not support
 * KMS keys; TLS-only, no public access, objects expire.
 */
export class LogBucket extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: LogBucketProps = {}) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      versioned: false,
      lifecycleRules: [{ expiration: Duration.days(props.expirationDays ?? 90) }],
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      // CloudFormation deletes only empty buckets: one the stack may delete is emptied first.
      autoDeleteObjects: props.removalPolicy === RemovalPolicy.DESTROY,
    });
  }
}
