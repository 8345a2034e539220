import {
  Duration,
  aws_ec2 as ec2,
  aws_elasticloadbalancingv2 as elbv2,
  type aws_s3 as s3,
} from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

interface PublicLoadBalancerProps {
  readonly vpc: ec2.IVpc;
  /** ACM certificate for `*.baseDomain` and the operator API host. */
  readonly certificateArn: string;
  /** Where access logs go. */
  readonly accessLogBucket: s3.IBucket;
  /** Idle timeout in seconds. Default 60. */
  readonly idleTimeoutSeconds?: number;
}

/**
 * The internet-facing ALB: HTTP redirects to HTTPS, HTTPS terminates with the ACM certificate and
 * answers 404 for unknown host names; services attach host-header rules to `httpsListener`.
 */
export class PublicLoadBalancer extends Construct {
  readonly alb: elbv2.ApplicationLoadBalancer;
  readonly httpsListener: elbv2.ApplicationListener;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: PublicLoadBalancerProps) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Public ALB: 80 and 443 from anywhere',
      allowAllOutbound: false,
    });
    this.alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: this.securityGroup,
      dropInvalidHeaderFields: true,
      idleTimeout: Duration.seconds(props.idleTimeoutSeconds ?? 60),
    });
    this.alb.logAccessLogs(props.accessLogBucket, 'alb');
    this.alb.addRedirect({ sourceProtocol: elbv2.ApplicationProtocol.HTTP, sourcePort: 80, targetPort: 443 });
    this.httpsListener = this.alb.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      open: true,
      defaultAction: elbv2.ListenerAction.fixedResponse(404, {
        contentType: 'application/json',
        messageBody: '{"message":"unknown host"}',
      }),
    });
    NagSuppressions.addResourceSuppressions(this.securityGroup, [
      {
        id: 'AwsSolutions-EC23',
        reason: 'Internet-facing ALB: only 443 and the 80 -> 443 redirect are open to the world.',
      },
    ]);
  }
}
