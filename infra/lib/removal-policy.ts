import { RemovalPolicy } from 'aws-cdk-lib';
import type { RemovalPolicyName } from './config.js';

/** The config's removal policy of a database. */
export const removalPolicy = (name: RemovalPolicyName): RemovalPolicy =>
  ({ destroy: RemovalPolicy.DESTROY, retain: RemovalPolicy.RETAIN, snapshot: RemovalPolicy.SNAPSHOT })[name];

/** Buckets, keys, secrets and repositories cannot be snapshotted: `snapshot` means keep them. */
export const dataRemovalPolicy = (name: RemovalPolicyName): RemovalPolicy =>
  name === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
