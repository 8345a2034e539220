import { type aws_elasticloadbalancingv2 as elbv2, aws_wafv2 as wafv2 } from 'aws-cdk-lib';
import { Construct } from 'constructs';

interface WebAclProps {
  /** The ALB to protect. */
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  /** Metric name prefix. */
  readonly name: string;
  /** `block` enforces the managed rule groups; `count` only records matches. Default `block`. */
  readonly managedRulesMode?: 'block' | 'count';
  /** Requests per source IP per 5 minutes before blocking. Default 2000. */
  readonly ratePerIpPer5Min?: number;
}

const MANAGED_RULE_GROUPS = [
  'AWSManagedRulesCommonRuleSet',
  'AWSManagedRulesKnownBadInputsRuleSet',
  'AWSManagedRulesAmazonIpReputationList',
] as const;

/** Regional WAF on the ALB: a per-IP rate limit (always blocking) and the AWS managed rule groups. */
export class WebAcl extends Construct {
  readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: WebAclProps) {
    super(scope, id);
    const visibility = (metricName: string) => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName: `${props.name}-${metricName}`,
    });
    const overrideAction = (props.managedRulesMode ?? 'block') === 'block' ? { none: {} } : { count: {} };
    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('web-acl'),
      rules: [
        {
          name: 'rate-per-ip',
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: { limit: props.ratePerIpPer5Min ?? 2000, aggregateKeyType: 'IP' },
          },
          visibilityConfig: visibility('rate-per-ip'),
        },
        ...MANAGED_RULE_GROUPS.map((name, i) => ({
          name,
          priority: i + 1,
          overrideAction,
          statement: {
            managedRuleGroupStatement: {
              vendorName: 'AWS',
              name,
              // PostgREST requests legitimately exceed the rule set's size limits: bodies over 8 KB
              // (bulk inserts) and query strings over 2 KB (an in.(…) filter of ~60 UUIDs, long selects
              // with embeds). The gateway and the function have their own body limit.
              ...(name === 'AWSManagedRulesCommonRuleSet'
                ? {
                    ruleActionOverrides: ['SizeRestrictions_BODY', 'SizeRestrictions_QUERYSTRING'].map(
                      (rule) => ({
                        name: rule,
                        actionToUse: { count: {} },
                      }),
                    ),
                  }
                : {}),
            },
          },
          visibilityConfig: visibility(name),
        })),
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'Association', {
      resourceArn: props.loadBalancer.loadBalancerArn,
      webAclArn: this.webAcl.attrArn,
    });
  }
}
