# One image for both processes: `python -m exec_worker` or `python -m frontend_server`.
FROM node:20-slim AS web
WORKDIR /app/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared shared
COPY exec_worker exec_worker
COPY frontend_server frontend_server
RUN pip install --no-cache-dir .
ENV DTERM_WEB_ROOT=/app/web
COPY web/src web/src
COPY --from=web /app/web/node_modules web/node_modules
