#!/usr/bin/env bash
# Registers a worker cluster with the tenant-manager, creates a project and prints its URL and keys.
#
#   scripts/provision-worker-and-create-project.sh [options]          # against the AWS deployment
#   scripts/provision-worker-and-create-project.sh --local [options]  # against the local platform
#
# AWS: the stack outputs (ApiUrl, AdminKeySecretArn, WorkerCluster*) are read with the AWS CLI, the
# admin key and the worker master credential from Secrets Manager.
# Local: .data/local-stack.json (written by `pnpm start`) gives the tenant-manager URL and admin key;
# the local stack registers its own worker cluster, so one is registered only with --worker-url.
#
# Options:
#   --project NAME        project name (default `demo-<date>`)
#   --cluster-name NAME   name of the registered worker cluster (default `main`, local: `local-extra`)
#   --capacity N          projects the cluster may hold (default 500)
#   --weight N            placement weight (default 100)
#   --stack NAME          CloudFormation stack (default: infra/config.json stackName, else Supaplane)
#   --region REGION       (default: AWS_REGION, else infra/config.json region)
#   --worker-url URL      postgres://user:password@host:port/db of a cluster to register (local mode)
#   --data-dir DIR        local data directory (default SUPAPLANE_DATA_DIR or .data)
#   --timeout SECONDS     how long to wait for ACTIVE_HEALTHY (default 300)
# Secrets travel in request bodies on stdin and headers from process substitution, never in argv.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=aws
project="demo-$(date -u +%Y%m%d%H%M%S)"
cluster_name=''
capacity=500
weight=100
stack=''
region="${AWS_REGION:-}"
worker_url=''
data_dir="${SUPAPLANE_DATA_DIR:-.data}"
timeout=300
poll_interval="${PROVISION_POLL_SECONDS:-2}"

die() {
  echo "error: $*" >&2
  exit 1
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --local) mode=local ;;
    --project) project="${2:?--project needs a value}"; shift ;;
    --cluster-name) cluster_name="${2:?--cluster-name needs a value}"; shift ;;
    --capacity) capacity="${2:?--capacity needs a value}"; shift ;;
    --weight) weight="${2:?--weight needs a value}"; shift ;;
    --stack) stack="${2:?--stack needs a value}"; shift ;;
    --region) region="${2:?--region needs a value}"; shift ;;
    --worker-url) worker_url="${2:?--worker-url needs a value}"; shift ;;
    --data-dir) data_dir="${2:?--data-dir needs a value}"; shift ;;
    --timeout) timeout="${2:?--timeout needs a value}"; shift ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
[[ "$capacity" =~ ^[0-9]+$ ]] || die "--capacity must be a number"
[[ "$weight" =~ ^[0-9]+$ ]] || die "--weight must be a number"
[[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout must be a number"

# json <expression over `d`> reads JSON on stdin; prints strings raw, other values as JSON, nothing for undefined.
json() {
  node -e '
    let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
      const d = JSON.parse(s || "null");
      const v = new Function("d", "return (" + process.argv[1] + ")")(d);
      if (v !== undefined && v !== null) process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));
    });' "$1"
}

config_value() {
  [[ -f infra/config.json ]] || return 0
  json "d[\"$1\"]" <infra/config.json
}

# api METHOD PATH [body-on-stdin]: sets $status and $body; the admin key goes in a header file.
api() {
  local method="$1" path="$2" data=()
  if [[ "$method" == POST || "$method" == PATCH ]]; then data=(--header 'content-type: application/json' --data-binary @-); fi
  local out
  out="$(curl --silent --show-error --max-time 60 --request "$method" \
    --header @<(printf 'authorization: Bearer %s\n' "$admin_key") \
    "${data[@]}" --write-out '\n%{http_code}' "${api_url%/}${path}")" || die "$method $path: request failed"
  status="${out##*$'\n'}"
  body="${out%$'\n'*}"
}

fail_api() { # <what>
  local message
  message="$(printf '%s' "$body" | json 'd && d.message' 2>/dev/null || true)"
  die "$1 answered ${status}: ${message:-$body}"
}

if [[ "$mode" == local ]]; then
  summary="${data_dir%/}/local-stack.json"
  [[ -f "$summary" ]] || die "$summary not found: start the local platform first (pnpm start)"
  api_url="$(json 'd.tenantManagerUrl' <"$summary")"
  admin_key="$(json 'd.adminKey' <"$summary")"
  region="${region:-local}"
  [[ -n "$api_url" && -n "$admin_key" ]] || die "$summary lacks tenantManagerUrl or adminKey"
  cluster_name="${cluster_name:-local-extra}"
  if [[ -n "$worker_url" ]]; then
    register=$(WORKER_URL="$worker_url" NAME="$cluster_name" CAPACITY="$capacity" WEIGHT="$weight" REGION="$region" node -e '
      const u = new URL(process.env.WORKER_URL);
      process.stdout.write(JSON.stringify({
        name: process.env.NAME, host: u.hostname, port: Number(u.port || 5432),
        admin_user: decodeURIComponent(u.username), admin_password: decodeURIComponent(u.password),
        admin_database: u.pathname.slice(1) || "postgres", ssl: ["require", "verify-full", "verify-ca"].includes(u.searchParams.get("sslmode")),
        capacity: Number(process.env.CAPACITY), weight: Number(process.env.WEIGHT), region: process.env.REGION }));')
  else
    register=''
    echo "worker cluster: using the local stack's own (pass --worker-url to register another)"
  fi
else
  command -v aws >/dev/null 2>&1 || die "the AWS CLI is required (or use --local)"
  stack="${stack:-$(config_value stackName)}"
  stack="${stack:-Supaplane}"
  region="${region:-$(config_value region)}"
  [[ -n "$region" ]] || die "no region: pass --region or set AWS_REGION"
  outputs="$(aws cloudformation describe-stacks --stack-name "$stack" --region "$region" --query 'Stacks[0].Outputs' --output json)" ||
    die "cannot read the outputs of stack $stack in $region"
  output() { printf '%s' "$outputs" | json "(d.find((o) => o.OutputKey === \"$1\") || {}).OutputValue"; }
  api_url="$(output ApiUrl)"
  admin_arn="$(output AdminKeySecretArn)"
  worker_host="$(output WorkerClusterEndpoint)"
  worker_secret_arn="$(output WorkerClusterSecretArn)"
  worker_id="$(output WorkerClusterIdentifier)"
  [[ -n "$api_url" && -n "$admin_arn" && -n "$worker_host" && -n "$worker_secret_arn" ]] ||
    die "stack $stack lacks ApiUrl, AdminKeySecretArn, WorkerClusterEndpoint or WorkerClusterSecretArn"
  admin_key="$(aws secretsmanager get-secret-value --secret-id "$admin_arn" --region "$region" --query SecretString --output text)"
  worker_secret="$(aws secretsmanager get-secret-value --secret-id "$worker_secret_arn" --region "$region" --query SecretString --output text)"
  cluster_name="${cluster_name:-main}"
  register=$(SECRET="$worker_secret" HOST="$worker_host" NAME="$cluster_name" CAPACITY="$capacity" WEIGHT="$weight" REGION="$region" EXTERNAL_ID="$worker_id" node -e '
    const s = JSON.parse(process.env.SECRET);
    process.stdout.write(JSON.stringify({
      name: process.env.NAME, host: process.env.HOST, port: Number(s.port || 5432),
      admin_user: s.username, admin_password: s.password, admin_database: "postgres", ssl: true,
      capacity: Number(process.env.CAPACITY), weight: Number(process.env.WEIGHT), region: process.env.REGION,
      ...(process.env.EXTERNAL_ID ? { external_id: process.env.EXTERNAL_ID } : {}) }));')
fi

cluster_id=''
if [[ -n "$register" ]]; then
  api POST /v1/clusters <<<"$register"
  if [[ "$status" == 201 || "$status" == 200 ]]; then
    cluster_id="$(printf '%s' "$body" | json 'd.id')"
    echo "worker cluster: registered ${cluster_name} (${cluster_id})"
  elif [[ "$status" == 409 ]]; then
    api GET /v1/clusters
    [[ "$status" == 200 ]] || fail_api "GET /v1/clusters"
    cluster_id="$(printf '%s' "$body" | json "(Array.isArray(d) ? d : d.clusters || []).find((c) => c.name === \"$cluster_name\")?.id")"
    [[ -n "$cluster_id" ]] || die "cluster ${cluster_name} exists but is not listed"
    echo "worker cluster: ${cluster_name} already registered (${cluster_id})"
  else
    fail_api "POST /v1/clusters"
  fi
fi

new_project=$(NAME="$project" CLUSTER="$cluster_id" REGION="$region" node -e '
  const b = { name: process.env.NAME };
  if (process.env.CLUSTER) b.cluster_id = process.env.CLUSTER;
  if (process.env.REGION && process.env.REGION !== "local") b.region = process.env.REGION;
  process.stdout.write(JSON.stringify(b));')
api POST /v1/projects <<<"$new_project"
[[ "$status" == 201 || "$status" == 200 ]] || fail_api "POST /v1/projects"
ref="$(printf '%s' "$body" | json 'd.ref')"
project_status="$(printf '%s' "$body" | json 'd.status')"
endpoint="$(printf '%s' "$body" | json 'd.endpoint')"
echo "project: ${project} (${ref}) ${project_status}"

deadline=$((SECONDS + timeout))
while [[ "$project_status" != ACTIVE_HEALTHY ]]; do
  [[ "$project_status" == INIT_FAILED || "$project_status" == REMOVED ]] && die "project ${ref} is ${project_status}"
  ((SECONDS < deadline)) || die "project ${ref} not ACTIVE_HEALTHY after ${timeout}s (last status ${project_status})"
  sleep "$poll_interval"
  api GET "/v1/projects/${ref}"
  [[ "$status" == 200 ]] || fail_api "GET /v1/projects/${ref}"
  project_status="$(printf '%s' "$body" | json 'd.status')"
  endpoint="$(printf '%s' "$body" | json 'd.endpoint')"
done

api GET "/v1/projects/${ref}/api-keys?reveal=true"
[[ "$status" == 200 ]] || fail_api "GET /v1/projects/${ref}/api-keys"
publishable="$(printf '%s' "$body" | json '(d.find((k) => k.type === "publishable") || {}).api_key')"
secret="$(printf '%s' "$body" | json '(d.find((k) => k.type === "secret") || {}).api_key')"

cat <<OUT

Project ${project} is ACTIVE_HEALTHY
  ref:             ${ref}
  URL:             ${endpoint}
  publishable key: ${publishable}
  secret key:      ${secret}

  import { createClient } from '@supabase/supabase-js'
  const supabase = createClient('${endpoint}', '${publishable}')
OUT
