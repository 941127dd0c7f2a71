# The MLflow tracking server that every environment shares (k8s/mlflow.yml): model versions, the environments'
# aliases and history, and the artifacts, kept in a bucket. Pinned: the server and the app's client move together.
# It carries the app's package too, without its dependencies: the server's sign-in rule is the app's (registry_guard.py).
# docker build -f docker/mlflow.Dockerfile -t {{ cookiecutter.container_registry }}/mlflow-server:3.17.2 .
FROM python:{{ cookiecutter.python_version }}-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml /opt/app/
COPY src /opt/app/src
RUN pip install "mlflow[auth]==3.17.2" psycopg2-binary==2.9.13 google-cloud-storage==3.17.1 \
    && pip install --no-deps /opt/app \
    && useradd --create-home --uid 10001 mlflow

USER 10001
EXPOSE 5000
ENTRYPOINT ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]
