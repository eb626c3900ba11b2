# syntax=docker/dockerfile:1
# Builds the locked environment with uv, then runs the README's main command.
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir "uv>=0.5"
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY features features
COPY models models
COPY training training
COPY service service
COPY cli cli
# The dev group too: `make serve` runs `uv sync --locked`, which then has nothing to fetch.
RUN uv sync --locked

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir "uv>=0.5" \
    && useradd --create-home --uid 10001 dropout
WORKDIR /app
COPY --from=build --chown=dropout:dropout /app /app
COPY --chown=dropout:dropout Makefile ./
USER dropout
ENV UV_NO_SYNC=1 HOST=0.0.0.0 PORT=8000
EXPOSE 8000
HEALTHCHECK --start-period=15m CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"
# The same command as the README's: make serve (HOST=0.0.0.0 so the port can be published).
CMD ["make", "serve"]
