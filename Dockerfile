# syntax=docker/dockerfile:1
# One image for everything siding runs in a cluster:
#   webhook:         siding webhook ...      (Deployment in manifests/, runs as 65532)
#   init container:  siding init ...         (injected; runs as root with NET_ADMIN/NET_RAW)
#   proxy sidecar:   siding proxy ...        (injected; runs as 1337, no capabilities, read-only
#                                             root filesystem; SO_ORIGINAL_DST through koffi,
#                                             whose prebuilt binary npm ci installs as an
#                                             optional dependency for the build platform)
#   CLI:             siding inject|check|certs ...
# Build: docker build -t ghcr.io/siding-mesh/siding:$(node -p 'require("./package.json").version') .
#
# BASE is any Debian bookworm image with Node 24 and npm on PATH; the default is the
# official one. Machines without a registry pass a locally made base instead
# (--build-arg BASE=localhost/...).
ARG BASE=node:24-bookworm-slim

# ---- build: compile TypeScript, then keep only production dependencies ----
FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/bundle.sh ./scripts/bundle.sh
COPY src ./src
RUN npm run build && npm prune --omit=dev

# ---- runtime ----
FROM ${BASE}
# iptables ships both backends (iptables-legacy and iptables-nft, plus the ip6tables
# and *-restore variants); `siding init` picks one at run time. iproute2 for `ip`.
# `apt-get clean` drops the downloaded packages and apt's package caches (about 80 MB):
# the official Debian images are configured not to keep them, a plain Debian base is not.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables iproute2 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# `siding` on PATH, so the injected containers can run `siding init` and `siding proxy`
# (dist/siding.cjs runs init from its own CommonJS bundle, every other command from dist/cli.js).
RUN ln -s /app/dist/siding.cjs /usr/local/bin/siding && chmod 0755 /app/dist/siding.cjs /app/dist/cli.js
# Non-root by default (the webhook's runAsUser); the injected init container sets
# runAsUser 0 because iptables needs it.
USER 65532:65532
EXPOSE 9443
ENTRYPOINT ["node", "/app/dist/cli.js"]
