# syntax=docker/dockerfile:1
# loader as a scheduled container task.
#   docker build -t loader .
#   docker run --rm -v "$PWD/data:/data:ro" -v "$PWD/out:/out" loader
# Stage 1 builds wheels (loader's and its dependencies'); stage 2 installs them
# offline into a clean slim image: no compiler, no build tools, no source tree.

ARG PYTHON_VERSION=3.11.14

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY loader ./loader
# pyarrow and plyvel ship manylinux wheels, so nothing here needs a compiler
RUN pip wheel --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    LOADER_RUN__LOG_FORMAT=json \
    DATA_DIR=/data \
    OUT_DIR=/out
# A fixed numeric uid so Kubernetes' runAsNonRoot can check it and volumes can be chowned to it.
RUN groupadd --system --gid 10001 loader \
    && useradd --system --uid 10001 --gid loader --home-dir /home/loader --create-home --shell /usr/sbin/nologin loader \
    && mkdir -p /data /out /config \
    && chown loader:loader /out
# The wheels are bind-mounted from the build stage, so they never land in a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/loader-*.whl
COPY configs/container-job.toml /config/job.toml
# /data: input files (read-only is enough); /out: the target database, its lock,
# reject file, run report and metrics. /config holds the job file: mount a
# directory (or a ConfigMap) over it to run your own job.
VOLUME ["/data", "/out"]
WORKDIR /out
USER 10001:10001
ENTRYPOINT ["loader"]
CMD ["run", "/config/job.toml"]
