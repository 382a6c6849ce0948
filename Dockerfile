# Huracan on the official Airflow image, same Airflow version as `make airflow`: every Airflow component
# (api-server, scheduler, dag-processor, triggerer, Celery worker) runs from this one image.
FROM apache/airflow:3.3.2-python3.11

# CPU wheels of PyTorch by default (the CUDA build is several GB); for a GPU worker build with
#   docker compose build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

USER airflow
WORKDIR /opt/huracan

# Dependencies first (cached while only the code changes), pinned to the versions the tests ran with.
COPY --chown=airflow:root pyproject.toml README.md constraints.txt ./
COPY --chown=airflow:root huracan_core ./huracan_core
COPY --chown=airflow:root hamilton_service ./hamilton_service
COPY --chown=airflow:root huracan_telegram ./huracan_telegram
# Keep the image's own Airflow: installing with apache-airflow==$AIRFLOW_VERSION stops pip from swapping it.
RUN pip install --no-cache-dir --extra-index-url "${TORCH_INDEX_URL}" \
        "apache-airflow==${AIRFLOW_VERSION}" -c constraints.txt ".[airflow]"

COPY --chown=airflow:root config.yaml run_daily.py ./
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins

ENV HURACAN_CONFIG=/opt/huracan/config.yaml \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
WORKDIR /opt/airflow
