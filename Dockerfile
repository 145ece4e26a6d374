# The browser libraries the map serves itself, fetched from npm at pinned versions.
FROM node:20-bookworm-slim AS vendor
WORKDIR /app
COPY scripts/vendor scripts/vendor
COPY portal/web/assets/vendor.txt portal/web/assets/vendor.txt
RUN scripts/vendor

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends gdal-bin fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
COPY --from=vendor /app/portal/web/static/vendor portal/web/static/vendor
RUN pip install --no-cache-dir -e .
EXPOSE 8000
CMD ["sh", "-c", "cadastre migrate && cadastre demo --if-empty && cadastre serve --host 0.0.0.0"]
