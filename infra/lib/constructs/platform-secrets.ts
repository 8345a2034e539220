import { RemovalPolicy, aws_kms as kms, aws_secretsmanager as sm } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

interface PlatformSecretsProps {
  /** Prefix of the secret names (`<prefix>/admin-key`, …). */
  readonly namePrefix: string;
  /** What happens to the secrets and their key when the stack is deleted. Default RETAIN. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The platform's own secrets, generated at deploy time and encrypted with one customer key:
 * the operator admin key, the internal service token (tenant-manager internal API) and the master
 * key that encrypts JWT secrets and database passwords at rest.
 */
export class PlatformSecrets extends Construct {
  readonly key: kms.Key;
  readonly adminKey: sm.Secret;
  readonly internalServiceToken: sm.Secret;
  readonly masterKey: sm.Secret;

  constructor(scope: Construct, id: string, props: PlatformSecretsProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.key = new kms.Key(this, 'Key', {
      description: `${props.namePrefix} platform secrets`,
      enableKeyRotation: true,
      removalPolicy,
    });
    const secret = (name: string, description: string, length: number) =>
      new sm.Secret(this, name, {
        secretName: `${props.namePrefix}/${name.replace(/[A-Z]/g, (c, i) => (i ? '-' : '') + c.toLowerCase())}`,
        description,
        encryptionKey: this.key,
        removalPolicy,
        generateSecretString: { passwordLength: length, excludePunctuation: true },
      });
    this.adminKey = secret('AdminKey', 'Bearer key of the tenant-manager operator API', 48);
    this.internalServiceToken = secret(
      'InternalServiceToken',
      'Shared token of the tenant-manager internal API',
      48,
    );
    // 43 alphanumeric characters are valid unpadded base64 of exactly 32 bytes: the AES-256 key
    // format MASTER_KEY expects.
    this.masterKey = secret('MasterKey', 'Master key encrypting project JWT secrets and DB passwords', 43);
    NagSuppressions.addResourceSuppressions(
      [this.adminKey, this.internalServiceToken, this.masterKey],
      [
        {
          id: 'AwsSolutions-SMG4',
          reason:
            'Application secrets read at task start: rotation is a redeploy (admin key, service token) or a re-encryption of stored data (master key), both operator procedures in docs/aws.md.',
        },
      ],
    );
  }
}
