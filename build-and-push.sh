#!/usr/bin/env bash
# Builds the deployable images and pushes them to the stack's ECR repositories; packages the rest
# Lambda and uploads it to the stack's artifact bucket.
#
#   ./build-and-push.sh [gateway|tenant-manager|rest-lambda|all] [--dry-run]
#
# Images are built for linux/amd64 (Fargate X86_64) and tagged `latest` and the git SHA; the pushed
# digests are printed at the end. --dry-run prints every step and runs none: no Docker, no AWS needed.
#
# Settings (environment, else infra/config.json, else AWS CLI):
#   AWS_REGION      region of the stack            (config.json "region")
#   AWS_ACCOUNT_ID  account of the ECR registry     (config.json "account", else `aws sts get-caller-identity`)
#   NAME_PREFIX     repository prefix               (config.json "namePrefix", default `supaplane`)
#   STACK_NAME      stack with the RestArtifactBucket output (config.json "stackName", default `Supaplane`)
#   IMAGE_TAG       extra tag instead of the git SHA (default: short SHA, `-dirty` if the tree has changes)
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  echo "usage: $0 [gateway|tenant-manager|rest-lambda|all] [--dry-run]" >&2
  exit 2
}

target=all
dry_run=false
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=true ;;
    gateway | tenant-manager | rest-lambda | all) target="$arg" ;;
    -h | --help) usage ;;
    *)
      echo "unknown argument: $arg" >&2
      usage
      ;;
  esac
done

config_value() { # <field> <fallback>
  local file=infra/config.json
  if [[ -f "$file" ]]; then
    node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const v=c[process.argv[2]];process.stdout.write(v===undefined?"":String(v))' "$file" "$1"
  fi
}

# Prints a step; runs it unless --dry-run. Steps are single strings so that pipes stay visible.
step() {
  echo "+ $*"
  if [[ "$dry_run" == false ]]; then bash -o pipefail -c "$*"; fi
}

region="${AWS_REGION:-$(config_value region)}"
region="${region:-eu-west-1}"
prefix="${NAME_PREFIX:-$(config_value namePrefix)}"
prefix="${prefix:-supaplane}"
stack="${STACK_NAME:-$(config_value stackName)}"
stack="${stack:-Supaplane}"
account="${AWS_ACCOUNT_ID:-$(config_value account)}"
if [[ -z "$account" ]]; then
  if [[ "$dry_run" == true ]]; then
    account='<account-id>'
  else
    account="$(aws sts get-caller-identity --query Account --output text)"
  fi
fi

sha="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ]]; then sha="${sha}-dirty"; fi
tag="${IMAGE_TAG:-$sha}"
registry="${account}.dkr.ecr.${region}.amazonaws.com"

case "$target" in
  all) services=(gateway tenant-manager rest-lambda) ;;
  *) services=("$target") ;;
esac

echo "# target=${target} region=${region} registry=${registry} tag=${tag} dry-run=${dry_run}"

needs_images=false
for service in "${services[@]}"; do [[ "$service" != rest-lambda ]] && needs_images=true; done

if [[ "$needs_images" == true ]]; then
  if [[ ! -f certs/rds-global-bundle.pem ]]; then
    step "bash certs/fetch-rds-ca.sh"
  fi
  step "aws ecr get-login-password --region ${region} | docker login --username AWS --password-stdin ${registry}"
fi

declare -a digests=()
for service in "${services[@]}"; do
  case "$service" in
    gateway) dockerfile=gateway/Dockerfile ;;
    tenant-manager) dockerfile=apps/tenant-manager/Dockerfile ;;
    rest-lambda)
      step "npx tsx scripts/package-rest-lambda.ts --out dist"
      bucket_query="Stacks[0].Outputs[?OutputKey=='RestArtifactBucket'].OutputValue"
      if [[ "$dry_run" == true ]]; then
        bucket='<RestArtifactBucket>'
        echo "+ aws cloudformation describe-stacks --stack-name ${stack} --region ${region} --query \"${bucket_query}\" --output text"
      else
        bucket="$(aws cloudformation describe-stacks --stack-name "$stack" --region "$region" --query "$bucket_query" --output text)"
      fi
      step "aws s3 cp dist/rest-lambda.zip s3://${bucket}/rest/rest-lambda.zip --region ${region}"
      if [[ "$dry_run" == true ]]; then
        digests+=("rest-lambda s3://${bucket}/rest/rest-lambda.zip codeSha256=<computed after packaging>")
      else
        code_sha="$(node -e 'process.stdout.write(require("crypto").createHash("sha256").update(require("fs").readFileSync("dist/rest-lambda.zip")).digest("base64"))')"
        digests+=("rest-lambda s3://${bucket}/rest/rest-lambda.zip codeSha256=${code_sha}")
      fi
      continue
      ;;
  esac
  repository="${registry}/${prefix}/${service}"
  step "docker build --platform linux/amd64 -f ${dockerfile} -t ${repository}:${tag} -t ${repository}:latest ."
  step "docker push ${repository}:${tag}"
  step "docker push ${repository}:latest"
  if [[ "$dry_run" == true ]]; then
    echo "+ docker inspect --format '{{index .RepoDigests 0}}' ${repository}:${tag}"
    digests+=("${service} ${repository}@sha256:<known after push>")
  else
    digests+=("${service} $(docker inspect --format '{{index .RepoDigests 0}}' "${repository}:${tag}")")
  fi
done

echo "# pushed:"
for line in "${digests[@]}"; do echo "  ${line}"; done
for service in "${services[@]}"; do
  if [[ "$service" == rest-lambda ]]; then
    echo "# existing rest functions: set restFunction.artifactSha256 to the codeSha256 above in infra/config.json and deploy"
  fi
done
if [[ "$needs_images" == true ]]; then
  echo "# deploy: set \"imageTag\": \"${tag}\" for the services in infra/config.json, then: cd infra && npx aws-cdk@2 deploy ${stack}"
fi
