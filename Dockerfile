# The woods image: namenode, datanode, dashboard and the CLI (`docker compose run --rm client ls /`).
# nats-server runs from the official image (docker-compose.yml). Build: docker build -t whispering-woods .

# ---- build: dev dependencies, compile TypeScript, then drop the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY actors ./actors
COPY cli ./cli
COPY config ./config
COPY jetstream ./jetstream
COPY messages ./messages
RUN npx tsc -p . && npm prune --omit=dev --no-audit --no-fund

# ---- run: production dependencies, compiled code, the config defaults; a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# A fixed uid/gid: deploy/make-secrets.sh hands the credentials files to it (cli/deploy-secrets.ts, IMAGE_UID).
RUN groupadd --system --gid 10001 woods \
 && useradd --system --uid 10001 --gid woods --home-dir /nonexistent --shell /usr/sbin/nologin woods \
 && mkdir -p /data && chown woods:woods /data
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config/defaults.yaml ./config/defaults.yaml
# The server config template the secrets generator builds on (deploy/make-secrets.sh without Node on the host).
COPY nats-server.conf ./nats-server.conf
USER woods
# Datanodes keep chunks in /data (docker-compose.yml mounts a volume each there; owned by woods so a new
# named volume starts writable); the namenode keeps nothing on disk (its state is in JetStream). No VOLUME
# line: it would give every namenode and dashboard container an unused anonymous volume.
ENTRYPOINT ["node", "bin/woods.js"]
CMD ["--help"]
