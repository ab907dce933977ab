# csvpipe's own services for docker compose (profile localstack): the init step that deploys the
# Lambda, the Glue stand-in, the dashboard and the watcher. One image for all of them.
# The base is pinned; its Python (3.12) is the Lambda runtime the deployment zip is built for.
FROM python:3.12.8-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/csvpipe
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY emulators ./emulators
COPY dashboards ./dashboards
# The deployment zip is built here, from what was just installed: no download when the stack
# starts. The Lambda container that LocalStack starts runs it on python3.12.
RUN pip install . \
    && csvpipe --set data_dir=/opt/csvpipe package lambda --from-installed --out /opt/csvpipe/build

RUN useradd --create-home --uid 1000 csvpipe && mkdir -p /data/inbox && chown -R csvpipe /data
USER csvpipe
WORKDIR /data
ENV CSVPIPE_PROFILE=localstack \
    CSVPIPE_DATA_DIR=/data \
    CSVPIPE_DASHBOARD_HOST=0.0.0.0

CMD ["csvpipe", "--help"]
