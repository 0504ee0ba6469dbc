# Anvil: multi-stage build on Node 20 (Debian bookworm slim). The runtime image needs no network at start:
# migrations ship in the image and are applied by the server itself.

FROM node:20-bookworm-slim AS build
# python3, make and g++: better-sqlite3 compiles from source when no prebuilt binary can be fetched
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts prisma.postgres.config.ts tsconfig.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY src ./src
RUN npm ci
RUN npm run build
RUN npm prune --omit=dev

FROM node:20-bookworm-slim
# MALLOC_ARENA_MAX=2: glibc's per-thread malloc arenas (three threads here: requests, signing, validation)
# fragment into ~15–20 MB more resident memory under load for no measurable speed (docs/performance.md)
ENV NODE_ENV=production \
    ANVIL_DATA_DIR=/data \
    ANVIL_LISTEN=0.0.0.0:14000 \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma/migrations ./prisma/migrations
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 14000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "dist/healthcheck.js"]
CMD ["node", "dist/main.js", "serve"]
