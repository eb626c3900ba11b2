# syntax=docker/dockerfile:1
# Builds the locked environment with uv, then runs the README's main command: make serve.
# No secret is baked in: API tokens, the link key and passwords come from the environment or
# are made at start-up in the data volume; the model is pulled from the registry at start.
FROM python:3.11-slim-bookworm AS build
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY features features
COPY models models
COPY training training
COPY monitoring monitoring
COPY service service
COPY cli cli
# The dev group too: `make serve` runs `uv sync --locked --compile-bytecode`, which then has
# nothing to fetch or compile (bytecode made here saves seconds on every worker's start).
RUN uv sync --locked --compile-bytecode

FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends make=4.3-4.1 \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir "uv==0.13.9" \
    && useradd --create-home --uid 10001 dropout
WORKDIR /app
COPY --from=build --chown=10001:10001 /app /app
COPY --chown=10001:10001 Makefile ./
USER 10001:10001
ENV UV_NO_SYNC=1 HOST=0.0.0.0 PORT=8000
EXPOSE 8000
# /health answers once the process serves.
HEALTHCHECK --start-period=5m --interval=30s --timeout=5s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"]
# Production: the service alone. It creates no token and prints no secret (tokens come from
# `dropout-risk token create` in the database, or DROPOUT_RISK_API_TOKENS), and refuses a
# champion trained on synthetic data; `make serve` is the demo, not this.
CMD ["uv", "run", "--no-sync", "dropout-risk", "serve", "--host", "0.0.0.0", "--port", "8000"]
