#!/usr/bin/env bash
# One command from a fresh clone to a running local platform:
#   installs pnpm (npm i -g pnpm@10) when missing, redis-server via apt-get or brew when missing (best effort:
#   without it the gateway runs on its in-process cache alone), the workspace dependencies, then
#   scripts/local-stack.ts (what `pnpm start` runs). Environment overrides are documented at the top of that file.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1; then
  echo "Node.js 20.19 or newer is required (https://nodejs.org)." >&2
  exit 1
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("Node.js >= 20.19 required, found "+process.versions.node); process.exit(1) }'

if ! command -v pnpm >/dev/null 2>&1; then
  echo "installing pnpm 10…"
  npm install -g pnpm@10
fi

if ! command -v redis-server >/dev/null 2>&1 && [ -z "${REDIS_URL:-}" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server (best effort)…"
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo_cmd="sudo"; fi
    { $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq redis-server; } \
      || echo "could not install redis-server; continuing without Redis" >&2
  elif command -v brew >/dev/null 2>&1; then
    echo "installing redis-server with Homebrew (best effort)…"
    brew install redis || echo "could not install redis-server; continuing without Redis" >&2
  else
    echo "redis-server not found and neither apt-get nor Homebrew is available; continuing without Redis" >&2
  fi
fi

pnpm install
# Not `pnpm start`: pnpm reports a Ctrl-C as "ELIFECYCLE Command failed" (and exits 130) even when the
# stack stopped cleanly; run directly, the stack's own exit status and messages are all that is printed.
exec node --import tsx scripts/local-stack.ts
