# The Lexecon service image: `docker build -t lexecon:0.1.0 .` (k8s/README.md, "Build and push the image").
# Two stages on one base: the builder installs every dependency and compiles to dist/; the runtime
# stage installs only the production dependencies and takes dist/ from the builder.
ARG BASE_IMAGE=node:24-bookworm-slim

FROM ${BASE_IMAGE} AS builder
WORKDIR /app
# The lock file alone first, so a source change reuses the installed layer.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM ${BASE_IMAGE} AS runtime
# Kept in step with package.json by tests/image.test.ts; a build can override them.
ARG VERSION=0.1.0
ARG SOURCE_URL=https://github.com/lexecon/lexecon
LABEL org.opencontainers.image.title="lexecon" \
      org.opencontainers.image.description="Observable governance service for autonomous systems: policy decisions, a signed hash-chained ledger, audit." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="NOASSERTION"

# A numeric user with no login that owns nothing but the data dir: k8s/lexecon/deployment.yaml runs
# the pod as the same uid/gid (runAsNonRoot can only check a numeric USER).
RUN groupadd --system --gid 10001 lexecon \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin lexecon \
 && mkdir -p /var/lib/lexecon \
 && chown 10001:10001 /var/lib/lexecon

WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# npm's cache and Node's compile cache (/tmp/node-compile-cache) stay out of the layer, and so does the
# Node binary package.json brings for machines whose own node is older: the base image is the runtime.
RUN npm ci --omit=dev --no-audit --no-fund \
 && rm -rf /root/.npm /tmp/node-compile-cache node_modules/node-linux-* node_modules/.bin/node
COPY --from=builder /app/dist ./dist

# Everything the service writes (the signing key file, PGlite's database, the lock file) goes under
# LEXECON_DATA_DIR; the rest of the file system can be mounted read-only (only /tmp besides).
ENV LEXECON_DATA_DIR=/var/lib/lexecon \
    PORT=8000
VOLUME ["/var/lib/lexecon"]
EXPOSE 8000
USER 10001:10001
# SIGTERM starts the drain: readiness turns 503, in-flight requests finish, the ledger closes.
STOPSIGNAL SIGTERM
# Node itself asks, so the image needs no curl; it asks on loopback, which the default HOST
# (0.0.0.0) includes. Docker-format images keep it (OCI ones drop it); on Kubernetes the pod's
# probes replace it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# No entrypoint script in between: node is PID 1 and receives the stop signal itself.
ENTRYPOINT []
CMD ["node", "dist/node.js"]
