FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends gdal-bin fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -e .
EXPOSE 8000
CMD ["sh", "-c", "cadastre migrate && cadastre demo --if-empty && cadastre serve --host 0.0.0.0"]
