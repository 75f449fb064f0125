# One image for the API, the migrations step and the workers (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY winoprune ./winoprune
COPY server ./server
COPY worker ./worker
COPY migrations ./migrations
COPY web ./web
COPY recipes ./recipes
# gcc builds the sparse-Winograd inference kernel on first use (winoprune/runtime/native.py)
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN pip install '.[server,worker]' \
 && useradd --create-home --uid 1000 winoprune \
 && mkdir -p /data && chown winoprune /data
USER winoprune
ENV WINOPRUNE_DATA_DIR=/data
EXPOSE 8000
CMD ["winoprune", "serve", "--host", "0.0.0.0", "--port", "8000"]
