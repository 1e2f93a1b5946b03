# The shop as one container. Build context: the repository root (monitoring/docker-compose.yml,
# `build.context: ..`). Three stages:
#   python    the interpreter and the Python dependencies (shared by the other two)
#   frontend  compiles the app and builds its production frontend with bun from npm, as `make run` does
#   (final)   Python and the built pages only: no Node, no bun, no registry when the container starts
# Start: `python -m ecom_reflex.cli setup` (migrate, seed, admin), then `serve --prebuilt` (seconds).
# The same image runs the payment service (`python -m payment_gateway`, compose service `payments`).

# Python 3.11.17, a security release of the 3.11 line (docs.python.org/3.11, changelog 3.11.17).
FROM python:3.11.17-slim-bookworm AS python

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt


FROM python AS frontend

# Reflex builds with bun but still looks for Node.js and npm. Debian's Node is below Reflex's
# recommended version: on the bun path Reflex only warns.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

# Reflex's own bun installer downloads from the web; the npm package ships the binary.
# The cli puts .tools/node_modules/.bin on PATH and sets REFLEX_USE_SYSTEM_BUN itself.
RUN npm install --prefix /app/.tools --no-audit --no-fund bun@1.4.5 \
    && npm cache clean --force

COPY . .

# The pages open their websocket to the port they were built for (the browser keeps the port
# and uses its own host name): the container listens on the same PORT, and `serve --prebuilt`
# refuses to start on another.
ARG PORT=8000
RUN PORT=${PORT} python -m ecom_reflex.cli build-frontend \
    && rm -rf .web/node_modules


FROM python

ARG PORT=8000
ENV HOST=0.0.0.0 \
    PORT=${PORT}

# A fixed, unprivileged user.
RUN groupadd --system --gid 10001 shop \
    && useradd --system --uid 10001 --gid shop --home-dir /home/shop --create-home --shell /usr/sbin/nologin shop

COPY --chown=shop:shop . .
# The built pages and what the backend reads about them (.web/backend), without node_modules.
COPY --from=frontend --chown=shop:shop /app/.web /app/.web

# Everything the app writes at run time belongs to the app user. data/, logs/ and
# uploaded_files/ (and payments/, the payment service's ledger) are named volumes in compose:
# Docker copies this ownership into them when it creates them.
RUN mkdir -p /app/data /app/logs /app/uploaded_files /app/payments \
    && chown shop:shop /app /app/data /app/logs /app/uploaded_files /app/payments

USER 10001:10001

EXPOSE ${PORT}

# setup: migrate, seed the demo catalogue (idempotent), ensure the admin account.
# serve --prebuilt: the backend's workers serve pages and API on PORT; nothing is built or downloaded.
CMD ["sh", "-c", "python -m ecom_reflex.cli setup && exec python -m ecom_reflex.cli serve --prebuilt"]
