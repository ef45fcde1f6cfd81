# syntax=docker/dockerfile:1
# Multi-stage build of the TTS gateway on Node 24 LTS (Debian bookworm).

FROM node:24-bookworm-slim AS build
WORKDIR /app
# Native/wasm codecs ship prebuilt; python3/make/g++ only in case npm must build a native addon from source.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/package.json frontend/package-lock.json ./frontend/
RUN npm ci --prefix frontend --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY frontend ./frontend
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim AS runtime
# espeak-ng: the local `espeak` voice provider (run as a child process).
# ffmpeg: long-lived per-stream encoder for the flac/aac formats of /v1/audio/speech.
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng ffmpeg tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/frontend/dist ./frontend/dist
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini forwards SIGTERM to Node so shutdown hooks run (streams get an error frame, not a reset).
ENTRYPOINT ["/usr/bin/tini", "--"]
# The same command as `npm run start:prod` (test/deploy.e2e-spec.ts keeps them equal).
CMD ["node", "dist/main.js"]
