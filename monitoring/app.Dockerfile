# The shop as one container: `python -m ecom_reflex.cli setup` then `serve` on port 8000.
# Build context is the repository root (see monitoring/docker-compose.yml, `build.context: ..`).
FROM python:3.11.17-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8000

# Reflex builds its frontend with bun (installed below) but still needs Node.js and npm.
# Debian's Node 18 is below Reflex's minimum: on the bun path Reflex only warns.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged user; its home holds Reflex's per-user folder (~/.local/share/reflex).
RUN groupadd --system --gid 10001 shop \
    && useradd --system --uid 10001 --gid shop --home-dir /home/shop --create-home --shell /usr/sbin/nologin shop

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt

# Reflex's own bun installer downloads from the web; the npm package ships the binary.
# The cli puts .tools/node_modules/.bin on PATH and sets REFLEX_USE_SYSTEM_BUN itself.
RUN npm install --prefix /app/.tools --no-audit --no-fund bun@1.4.5 \
    && npm cache clean --force

COPY --chown=shop:shop . .

# Everything the app writes at run time belongs to the app user. data/, logs/ and
# uploaded_files/ are named volumes in compose: Docker copies this ownership into them
# when it creates them.
RUN mkdir -p /app/.web /app/.states /app/data /app/logs /app/uploaded_files /app/.tools/bun-cache \
    && chown shop:shop /app /app/.tools \
    && chown -R shop:shop /app/.web /app/.states /app/data /app/logs /app/uploaded_files /app/.tools/bun-cache

USER 10001:10001

EXPOSE 8000

# setup: migrate, seed the demo catalogue (idempotent), ensure the admin account.
# serve: build the frontend on first start, then serve pages and API on one port.
CMD ["sh", "-c", "python -m ecom_reflex.cli setup && exec python -m ecom_reflex.cli serve"]
