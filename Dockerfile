# Image for the woods actors (namenode, datanode, CLI). nats-server runs from the official image.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p .
ENTRYPOINT ["node", "bin/woods.js"]
