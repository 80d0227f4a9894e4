# One image for both processes: `dterm worker` or `dterm frontend` (and `dterm keys`,
# `dterm users`). The page goes into the Python package (pyproject.toml), so the
# front end finds it installed.
FROM node:20-slim AS web
WORKDIR /app/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared shared
COPY exec_worker exec_worker
COPY frontend_server frontend_server
COPY dterm_cli dterm_cli
COPY web/src web/src
COPY --from=web /app/web/node_modules web/node_modules
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
