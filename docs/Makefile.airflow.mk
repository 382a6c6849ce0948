# Included by the Makefile (`include docs/Makefile.airflow.mk`): a real local Airflow for Huracan.
#   make airflow         api-server, scheduler, dag-processor, triggerer on LocalExecutor + PostgreSQL
#   make airflow-celery  the same on CeleryExecutor (local Redis) with one worker on queues default,gpu
#   make airflow-stop    stops exactly the processes `make airflow` started (ids in .airflow/run/*.pid)
# Settings (port, database, login, ...): see the docstring of scripts/airflow/local_airflow.py.
AIRFLOW_STAMP := $(VENV)/.installed-airflow

.PHONY: airflow airflow-celery airflow-stop

$(AIRFLOW_STAMP): $(STAMP)
	@touch $(AIRFLOW_STAMP)

airflow: $(AIRFLOW_STAMP)
	$(BIN)/python scripts/airflow/local_airflow.py start

airflow-celery: $(AIRFLOW_STAMP)
	HURACAN_AIRFLOW_EXECUTOR=CeleryExecutor $(BIN)/python scripts/airflow/local_airflow.py start

airflow-stop:
	$(BIN)/python scripts/airflow/local_airflow.py stop
